"""`quant skills list | install`: the Agent Skills shipped in the quant-skills package.

quant-cli does not depend on quant-skills: the package is imported when a command runs, and its
absence is a one-line error (exit code 3) saying how to install it.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from quant_core.errors import QuantError
from rich.console import Console

from quant_cli import render
from quant_cli.output import emit
from quant_cli.tables import Column
from quant_cli.state import get_state

SKILLS_DISTRIBUTION = "quant-skills"
SKILLS_MODULE = "quant_skills"
DEFAULT_TARGET = Path(".claude") / "skills"
#: skill_status before the install -> what the install did
INSTALL_OUTCOMES = {"missing": "installed", "different": "replaced", "same": "unchanged"}


class SkillsNotInstalledError(QuantError):
    """The quant-skills package is not installed (an unknown thing to the CLI: exit code 3)."""

    exit_code = 3


class SkillsCommandError(QuantError):
    """A skill that breaks the Agent Skills rules, or an install that would overwrite another version."""

    exit_code = 2


def load_skills_module() -> ModuleType:
    try:
        import quant_skills
    except ModuleNotFoundError as error:
        if error.name != SKILLS_MODULE:  # installed but broken: not the "install it" case
            raise
        raise SkillsNotInstalledError(
            f"the Agent Skills are not installed: pip install {SKILLS_DISTRIBUTION}"
        ) from None
    return quant_skills


def list_skills(ctx: typer.Context) -> None:
    """List the Agent Skills that `quant skills install` copies."""
    state = get_state(ctx)
    skills_module = load_skills_module()
    try:
        skills = skills_module.list_skills()
    except skills_module.SkillError as error:
        raise SkillsCommandError(str(error)) from error
    document = {
        "skills": [{"name": s.name, "description": s.description, "path": str(s.path)} for s in skills]
    }
    emit(state, document, draw_skill_list)


def install_skills(
    ctx: typer.Context,
    target: Annotated[
        Path | None,
        typer.Option(
            "--target", metavar="DIR",
            help=f"Skills folder to install into (default: ./{DEFAULT_TARGET.as_posix()}, the project skills "
            "folder of Claude Code; ~/.claude/skills installs them for every project).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a skill folder that holds another version.")
    ] = False,
) -> None:
    """Copy every skill into DIR/<name>/ (default ./.claude/skills). A folder that already holds
    another version is an error unless --force; nothing is half-copied."""
    state = get_state(ctx)
    skills_module = load_skills_module()
    folder = (target if target is not None else DEFAULT_TARGET).expanduser().absolute()
    try:
        skills = skills_module.list_skills()
        before = {s.name: skills_module.skill_status(s, folder) for s in skills} if folder.is_dir() else {}
        installed = skills_module.install(folder, force=force)
    except skills_module.SkillConflictError as error:
        names = ", ".join(path.name for path in error.paths)
        raise SkillsCommandError(
            f"{folder} already holds a different version of {names}; nothing was changed "
            "(rerun with --force to replace them)"
        ) from error
    except skills_module.SkillError as error:
        raise SkillsCommandError(str(error)) from error
    document = {
        "target": str(folder),
        "skills": [
            {"name": path.name, "path": str(path), "status": INSTALL_OUTCOMES[before.get(path.name, "missing")]}
            for path in installed
        ],
    }
    emit(state, document, draw_install)


def draw_skill_list(console: Console, document: dict[str, Any]) -> None:
    render.listing(
        console, document["skills"], "skill", "no skills packaged", (Column("name"), render.DESCRIPTION),
        lambda skill: (skill["name"], skill["description"]),
    )
    if not document["skills"]:
        return
    render.line(console, "install them with `quant skills install` (into ./.claude/skills)")


def draw_install(console: Console, document: dict[str, Any]) -> None:
    for skill in document["skills"]:
        render.line(console, f"{skill['status']:<9} {skill['name']}  {skill['path']}")
    render.line(console, f"{len(document['skills'])} skill(s) in {document['target']}")


def build() -> typer.Typer:
    app = typer.Typer(help="Install the Agent Skills that teach an AI agent to drive quant.", no_args_is_help=True, add_completion=False)
    app.command("list")(list_skills)
    app.command("install")(install_skills)
    return app
