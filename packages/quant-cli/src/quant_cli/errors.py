"""How a failure leaves the CLI: one line on stderr, an exit code, and with `--json` a JSON document.

Exit codes come from the error itself (`QuantError.exit_code`): 2 usage or validation, 3 unknown
name, 4 a stage failed, 5 a sleeve failed. Anything else is a bug or an environment problem: 1.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

from quant_core.errors import QuantError, SleeveFailureError, StageFailedError, StoreWriteError
from typer import TyperException

from quant_cli.jsonout import write_json

INTERRUPTED_EXIT_CODE = 130
INTERNAL_EXIT_CODE = 1


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, QuantError | TyperException):
        return int(error.exit_code)
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED_EXIT_CODE
    return INTERNAL_EXIT_CODE


def error_message(error: BaseException) -> str:
    if isinstance(error, TyperException):
        return error.format_message()
    if isinstance(error, QuantError):
        return str(error)
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"unexpected {type(error).__name__}: {error}"


def error_document(error: BaseException, run_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type(error).__name__,
        "message": error_message(error),
        "exit_code": exit_code_for(error),
    }
    run_id = getattr(error, "run_id", None) if run_id is None else run_id
    if run_id:
        body["run_id"] = run_id
    if isinstance(error, SleeveFailureError):
        body["failures"] = dict(sorted(error.failures.items()))
    if isinstance(error, StageFailedError):
        body["stage_id"] = error.stage_id
    return {"error": body}


def error_line(error: BaseException, run_id: str | None = None, debug: bool = False) -> str:
    """The one line a user sees, with the next step when there is an obvious one."""
    line = f"error: {error_message(error)}"
    if run_id and isinstance(error, StageFailedError | SleeveFailureError | StoreWriteError | KeyboardInterrupt):
        line += f" (fix the cause, then `quant runs resume {run_id}` continues from the failed step)"
    if exit_code_for(error) == INTERNAL_EXIT_CODE and not isinstance(error, QuantError) and not debug:
        line += " (run with --debug for the traceback)"
    return line


def report_error(
    error: BaseException,
    *,
    json_output: bool,
    debug: bool,
    run_id: str | None = None,
    json_stdout: bool = True,
) -> int:
    """Write the error out and give back the exit code to leave with."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    sys.stderr.write(error_line(error, run_id, debug) + "\n")
    sys.stderr.flush()
    if json_output and json_stdout:
        write_json(error_document(error, run_id))
    return exit_code_for(error)
