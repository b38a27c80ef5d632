"""A skill: a folder holding a SKILL.md (frontmatter + instructions) and optional scripts."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from quant_skills.errors import SkillValidationError
from quant_skills.frontmatter import split_frontmatter

SKILL_FILE = "SKILL.md"
CATALOG_PACKAGE = "quant_skills"
CATALOG_FOLDER = "catalog"


@dataclass(frozen=True)
class Skill:
    """`path` is the skill's folder: a `pathlib.Path` for an installed wheel or a checkout, any
    `Traversable` when the package is imported from an archive."""

    name: str
    description: str
    path: Traversable


def is_ignored(name: str) -> bool:
    """Hidden files and bytecode caches are never part of a skill."""
    return name.startswith(".") or name == "__pycache__"


def read_skill_file(folder: Traversable) -> tuple[str, str]:
    """The text of `<folder>/SKILL.md` and the name to report it by."""
    file = folder / SKILL_FILE
    source = str(file)
    if not file.is_file():
        raise SkillValidationError(f"{SKILL_FILE} not found", source=source, rule="missing-skill-md")
    return file.read_text(encoding="utf-8"), source


def load_skill(folder: Traversable) -> Skill:
    """The skill in `folder`, named and described by its SKILL.md frontmatter.

    Only reads what a listing needs (raises if the frontmatter cannot be read or lacks `name` or
    `description`); `validate` checks every rule."""
    text, source = read_skill_file(folder)
    fields, _ = split_frontmatter(text, source)
    for key in ("name", "description"):
        if key not in fields:
            raise SkillValidationError(f"the frontmatter has no {key!r}", source=source, rule="missing-field")
        if not isinstance(fields[key], str):
            raise SkillValidationError(f"{key!r} must be a string, not a mapping", source=source, rule="field-not-a-string")
    return Skill(name=str(fields["name"]), description=str(fields["description"]), path=folder)


def catalog_folder() -> Traversable:
    """Where the packaged skills live inside the installed package."""
    return resources.files(CATALOG_PACKAGE) / CATALOG_FOLDER


def list_skills() -> list[Skill]:
    """The skills shipped in this package, by name."""
    folders = [f for f in catalog_folder().iterdir() if f.is_dir() and not is_ignored(f.name)]
    return sorted((load_skill(f) for f in folders), key=lambda s: s.name)
