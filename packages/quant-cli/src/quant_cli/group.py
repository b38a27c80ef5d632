"""The root command group: global options anywhere on the line, and every error handled once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from quant_cli.errors import error_document, report_error
from quant_cli.jsonout import write_json
from quant_cli.state import CliState

#: Global flags, and global options that take a value. They belong to the root command, but a
#: user (or an agent) naturally writes them after the subcommand: `quant stage list --json`.
GLOBAL_FLAGS = ("--json", "--debug")
GLOBAL_VALUE_OPTIONS = ("--home", "--store", "--store-options")


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


class QuantGroup(TyperGroup):
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: typer.Context) -> Any:
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
