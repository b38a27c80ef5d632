"""Executor options (`--workers`, `--ray-address`, `--task-runner`, `--dbos-database-url`, ...):
checked against the executor factory's own signature before anything runs, so an option given to
an executor that does not take it is a clear parameter error, not a TypeError mid-run."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from quant_core.errors import ParamValidationError


def accepted_options(factory: Callable[..., Any]) -> list[str] | None:
    """The keyword options `factory(runtime, **options)` takes; None when it takes any."""
    parameters = list(inspect.signature(factory).parameters.values())[1:]  # after the runtime
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def check_executor_options(name: str, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    accepted = accepted_options(factory)
    if accepted is None:
        return
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) if accepted else "no options"
        raise ParamValidationError(
            f"executor {name!r} does not take the option(s) {', '.join(unknown)} (it takes: {takes})",
            param=unknown[0], value=options[unknown[0]], rule="executor-option",
        )


def check_workers(executor: str, workers: int) -> int:
    """`workers` as an executor takes it: at least 1, else a parameter error naming it."""
    if workers < 1:
        raise ParamValidationError(
            f"executor {executor}: workers={workers} must be at least 1", param="workers", value=workers, rule="minimum"
        )
    return workers
