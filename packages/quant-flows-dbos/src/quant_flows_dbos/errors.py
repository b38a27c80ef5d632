"""Errors of the DBOS backend, and quant's errors carried through DBOS's records as JSON.

A workflow that fails records its error in the system database. quant's DBOS stores everything as
portable JSON (no pickles), where an exception is kept as its class name, message and `data`.
`WorkflowFailure` puts a quant error's class and fields in `data`, so that whoever reads the
outcome (the run's caller, a parent gathering its sleeves, another process) gets the same error
back: same class, same message, same exit code.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from dbos import PortableWorkflowError
from dbos import error as dbos_errors
from quant_core.errors import QuantError
from quant_core.remote import RemoteQuantError


class DbosBackendError(QuantError):
    """The DBOS backend cannot do what was asked as things stand (exit code 2: the user decides)."""

    exit_code = 2


class EngineConflictError(DbosBackendError):
    """DBOS is a singleton per process, launched with one database, application and version."""


class VersionMismatchError(DbosBackendError):
    """A run is pending under another application version: DBOS will not recover it as it is."""

    def __init__(self, message: str, *, run_id: str, pending_version: str, current_version: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.pending_version = pending_version
        self.current_version = current_version


class RunHeldElsewhereError(DbosBackendError):
    """A run is pending on a process of another host, which may still be running it."""


class WorkflowFailure(Exception):
    """What a quant workflow raises: a quant error, described in `data` as JSON."""

    def __init__(self, error: QuantError) -> None:
        super().__init__(str(error))
        self.data = describe(error)


def describe(error: QuantError) -> dict[str, Any]:
    cls = type(error)
    state = {key: value for key, value in vars(error).items() if _is_json(value)}
    return {
        "module": cls.__module__, "class": cls.__qualname__, "message": error.message,
        "exit_code": error.exit_code, "state": state,
    }


def rebuild(data: dict[str, Any]) -> QuantError:
    """The quant error `describe` described (a `RemoteQuantError` if its class is not importable)."""
    cls = _quant_error_class(str(data.get("module")), str(data.get("class")))
    message = str(data.get("message"))
    state = data.get("state") or {}
    if cls is None:
        return RemoteQuantError(message, error_type=str(data.get("class")), exit_code=int(data.get("exit_code", 1)))
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    error.message = message
    return error


def from_workflow(error: BaseException) -> BaseException:
    """The error a workflow's outcome gives, as quant raises it: a `WorkflowFailure` (raised in this
    process) or its JSON record (`PortableWorkflowError`, read back from the database) becomes the
    quant error it carries; a cancelled sleeve says so; anything else is returned as it is."""
    if isinstance(error, WorkflowFailure):
        return rebuild(error.data)
    if isinstance(error, PortableWorkflowError):
        if error.name == WorkflowFailure.__name__ and isinstance(error.data, dict):
            return rebuild(error.data)
        return RuntimeError(f"{error.name}: {error.message}")
    if isinstance(error, dbos_errors.DBOSAwaitedWorkflowCancelledError):
        return RuntimeError(f"the run was cancelled through DBOS ({error})")
    return error


def _quant_error_class(module: str, qualname: str) -> type[QuantError] | None:
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) and issubclass(found, QuantError) else None


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
