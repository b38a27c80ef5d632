"""The root command group: commands loaded on first use, global options anywhere on the line,
plain help, and every error handled once.

`quant --help` must start fast (BENCHMARKS.md: at most 0.4 s), so a command's module, and what it
imports (quant-core's SDK, jsonschema, Rich tables), is imported only when that command runs: the
root knows each command by name, import path and one help line (`LAZY_COMMANDS`). A command added
eagerly with `app.add_typer(...)` / `app.command(...)` works too; it just costs its imports on
every call.

Help is Click's plain layout (no Rich panels): it starts in a fraction of the time (Typer's Rich
help imports Rich's Markdown and traceback machinery, 0.2-0.3 s here) and shows a flag as a flag
(`--json`, where Typer's Rich help printed `--json <bool>`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer.core import TyperGroup

from quant_cli.errors import error_document, report_error
from quant_cli.jsonout import write_json

#: Global flags, and global options that take a value. They belong to the root command, but a
#: user (or an agent) naturally writes them after the subcommand: `quant stage list --json`.
GLOBAL_FLAGS = ("--json", "--debug")
GLOBAL_VALUE_OPTIONS = ("--home", "--store", "--store-options")


@dataclass(frozen=True)
class LazyCommand:
    """A command known by name until it runs: `target` is `module:function`, the function giving
    a `typer.Typer`: a group of subcommands, or (`group=False`) an app holding one command."""

    name: str
    target: str
    help: str
    group: bool = True

    def load(self) -> Any:
        module_name, _, function = self.target.partition(":")
        built = getattr(importlib.import_module(module_name), function)()
        # A group stays a group even with one subcommand (`quant data list`).
        command = typer.main.get_group(built) if self.group else typer.main.get_command(built)
        command.name = self.name
        return command


LAZY_COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("stage", "quant_cli.commands.stage:build", "Inspect and run single stages."),
    LazyCommand("pipeline", "quant_cli.commands.pipeline:build", "Inspect and run pipelines."),
    LazyCommand("run", "quant_cli.commands.runs:build_run", "Run the stage or pipeline a quant:// URI names.", group=False),
    LazyCommand("runs", "quant_cli.commands.runs:build", "Inspect and resume recorded runs."),
    LazyCommand("profile", "quant_cli.commands.profile:build", "Inspect profiles (named parameter sets)."),
    LazyCommand("data", "quant_cli.commands.data:build", "Inspect the installed datasets."),
    LazyCommand("skills", "quant_cli.commands.skills:build", "Install the Agent Skills that teach an AI agent to drive quant."),
    LazyCommand("store", "quant_cli.commands.store:build", "Check and clean the store ($QUANT_HOME: runs, artifacts, cache)."),
    LazyCommand("config", "quant_cli.commands.config:build", "Show the deployment's configuration (quant.toml)."),
    LazyCommand("serve-metrics", "quant_cli.commands.metrics:build", "Serve /metrics (Prometheus) counted from the run records under the home.", group=False),
    LazyCommand("deploy", "quant_cli.commands.deploy:build", "Serve pipelines as deployments of an orchestrator."),
    LazyCommand("worker", "quant_cli.commands.worker:build", "Run long-lived workers of a backend."),
    LazyCommand("demo", "quant_cli.commands.demo:build", "Run the demo: every sleeve's portfolio, the meta-portfolio and its report.", group=False),
)


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move global options to the front so the root parses them wherever they were written.

    Everything after a `--` separator is left alone."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        if arg in GLOBAL_FLAGS:
            front.append(arg)
        elif arg in GLOBAL_VALUE_OPTIONS and index + 1 < len(args):
            front.extend((arg, args[index + 1]))
            index += 1
        elif any(arg.startswith(f"{option}=") for option in GLOBAL_VALUE_OPTIONS):
            front.append(arg)
        else:
            rest.append(arg)
        index += 1
    return front + rest


def plain_help(command: Any) -> Any:
    """Give `command` and every command under it Click's plain help (see the module's note)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command


class QuantGroup(TyperGroup):
    lazy_commands: Mapping[str, LazyCommand] = {c.name: c for c in LAZY_COMMANDS}

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*self.lazy_commands, *(name for name in self.commands if name not in self.lazy_commands)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            command = self.commands[cmd_name] = self.lazy_commands[cmd_name].load()
        return plain_help(command) if command is not None else None

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        """The command list from the catalogue's help lines: listing them imports nothing."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands and name not in self.commands:
                rows.append((name, self.lazy_commands[name].help))
            else:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as error:
            # "No such command": Typer suggests among the commands loaded so far; suggest among all.
            message = getattr(error, "message", None)
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and isinstance(message, str) and "Did you mean" not in message:
                error.message = f"{message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: typer.Context) -> Any:
        from quant_cli.state import CliState

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as error:
            # A usage error: Typer prints it (exit code 2); with --json, say so on stdout too.
            state = ctx.find_object(CliState)
            if state is not None and state.json_output:
                write_json(error_document(error))
            raise
        except (Exception, KeyboardInterrupt) as error:
            state = ctx.find_object(CliState)
            code = report_error(
                error,
                json_output=bool(state and state.json_output),
                debug=bool(state and state.debug),
                run_id=state.run_id if state else None,
            )
            raise typer.Exit(code) from None
