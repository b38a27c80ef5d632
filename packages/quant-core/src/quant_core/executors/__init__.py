"""Executors: where and how a pipeline's steps run. `local` ships here; Ray, Prefect and DBOS
ship in their own packages and are found through the `quant.executors` entry point group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quant_core.executors.base import Executor

__all__ = ["Executor"]


def __getattr__(name: str) -> Any:
    # `Executor` brings the run machinery (execution, records, the cache) along: imported when
    # asked for, so a module of this package that needs none of it (options) stays cheap to import.
    if name == "Executor":
        from quant_core.executors.base import Executor

        return Executor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
