"""A fast start: commands are imported when they run, and help shows flags as flags.

Speed itself is measured by bench/cli_startup.py (tests never assert on time); these tests pin
what makes it fast: what `quant --help` and `quant stage list` import.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import typer
from quant_core import home as core_home
from quant_core.config import ENVIRONMENT
from typer.testing import CliRunner

from quant_cli import app as cli_app
from quant_cli.app import build_app
from quant_cli.group import LAZY_COMMANDS


def modules_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after `quant <argv>` ran."""
    code = (
        "import sys\n"
        "from quant_cli.app import main\n"
        f"sys.argv = ['quant', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(result.stderr.splitlines())


def test_help_imports_no_command_and_nothing_of_quant_core_but_its_errors() -> None:
    loaded = modules_after("--help")
    quant = {m for m in loaded if m.startswith(("quant_core", "quant_cli.commands", "quant_stages"))}
    assert quant <= {"quant_core", "quant_core.errors"}  # the exit codes live on the errors
    assert not {"pydantic", "jsonschema", "rich", "rich.console"} & loaded


#: What listing the catalogue never needs: the numerical stack, the schema validator, and what
#: only running a stage imports (the run machinery and Rich's live progress display).
NOT_FOR_THE_CATALOGUE = (
    "numpy", "pandas", "scipy", "cvxpy", "pyarrow", "matplotlib", "jsonschema",
    "quant_cli.stage_run", "quant_cli.report", "quant_cli.progress", "rich.progress", "rich.live",
    "quant_core.execution", "quant_core.cache", "quant_core.executors.base", "quant_core.executors.fanout",
)


#: The catalogue's own tests list the stages quant-stages registers (`nox -s cli` installs
#: quant-core and quant-cli alone: nothing to list there).
needs_stages = pytest.mark.skipif(importlib.util.find_spec("quant_stages") is None, reason="needs quant-stages")


@needs_stages
def test_stage_list_imports_only_the_stage_command_and_no_validator() -> None:
    loaded = modules_after("stage", "list")
    commands = {m for m in loaded if m.startswith("quant_cli.commands.")}
    assert commands == {"quant_cli.commands.stage"}
    assert {"quant_stages.stages", "rich.table"} <= loaded  # it did list the stages, in a table
    assert not set(NOT_FOR_THE_CATALOGUE) & loaded


@needs_stages
def test_listing_stages_builds_no_stage_parameter_validator() -> None:
    """A stage's `Params` and `Outputs` are built on first use: the catalogue reads their fields."""
    code = (
        "from quant_core.registry import StageRegistry\n"
        "specs = StageRegistry.from_entry_points().list_stages()\n"
        "assert all(s.param_names is not None and s.context_kind for s in specs)\n"
        "built = [s.id for s in specs if s.stage_class.Params.__pydantic_complete__ or s.stage_class.Outputs.__pydantic_complete__]\n"
        "print(len(specs), built)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    count, built = result.stdout.split(" ", 1)
    assert int(count) >= 13 and built.strip() == "[]"


@needs_stages
def test_listing_stages_builds_no_context_record_or_cache_validator() -> None:
    """quant-core's models are built on first use: the catalogue validates no context, record or
    cache entry, so it pays for none of their validators."""
    code = (
        "import sys\n"
        "from quant_cli.app import main\n"
        "sys.argv = ['quant', 'stage', 'list']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "from quant_core import artifacts, context, records\n"
        "models = [context.SelectionContext, context.MetaContext, context.SpilledCollection,\n"
        "          records.RunManifest, records.LedgerEntry, artifacts.ArtifactRef]\n"
        "sys.stderr.write(repr([m.__name__ for m in models if m.__pydantic_complete__]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stderr.strip() == "[]"


def test_the_help_lists_every_command_from_the_catalogue_without_loading_it() -> None:
    result = CliRunner().invoke(build_app(lambda home: None), ["--help"])
    assert result.exit_code == 0
    listed = result.stdout.split("Commands:", 1)[1]
    for command in LAZY_COMMANDS:
        assert command.name in listed
        assert command.help.split()[0] in listed


def test_the_catalogue_help_lines_are_the_commands_own() -> None:
    """The one-line help `quant --help` shows is the one the command itself carries."""
    root = typer.main.get_command(build_app(lambda home: None))
    context = typer.Context(root)
    for entry in LAZY_COMMANDS:
        command = root.get_command(context, entry.name)
        own = (command.help or "").split("\n\n")[0].replace("\n", " ").strip()
        assert own.startswith(entry.help.rstrip(".").split(":")[0]), (entry.name, own)


def test_a_misspelt_command_suggests_the_right_one() -> None:
    result = CliRunner().invoke(build_app(lambda home: None), ["stag", "list"])
    assert result.exit_code == 2
    assert "Did you mean 'stage'?" in result.output


def test_the_home_constants_agree_with_quant_core() -> None:
    assert (cli_app.QUANT_HOME_ENV, cli_app.DEFAULT_HOME) == (core_home.QUANT_HOME_ENV, core_home.DEFAULT_HOME)
    assert (cli_app.QUANT_STORE_ENV, cli_app.QUANT_STORE_OPTIONS_ENV) == (
        ENVIRONMENT["store"], ENVIRONMENT["store_options"]
    )


def every_command_path(group, context, prefix=()):
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*prefix, name)
        if hasattr(command, "list_commands"):
            yield from every_command_path(command, typer.Context(command, parent=context), (*prefix, name))


def test_flags_look_like_flags_in_every_help() -> None:
    """`--json`, `--force`, `--all` take no value: the help must not show one (`--json <bool>`)."""
    app = build_app(lambda home: None)
    root = typer.main.get_command(app)
    paths = list(every_command_path(root, typer.Context(root)))
    assert ("runs", "list") in paths and ("demo",) in paths
    for path in [(), *paths]:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.stdout, path
        assert "--help  " in result.stdout or "--help " in result.stdout
    root_help = CliRunner().invoke(app, ["--help"]).stdout
    assert any(line.split()[:1] == ["--json"] and "Print one JSON document" in line for line in root_help.splitlines())
    force = CliRunner().invoke(app, ["pipeline", "run", "--help"]).stdout
    assert any(line.split()[:2] == ["--force", "Recompute"] for line in force.splitlines())
