"""quant-flows-dbos: every quant run a DBOS durable workflow (one step per stage attempt, workflow
id = run id), so a crashed run resumes where it stopped and a finished stage never runs again.

Its names load on first use, so importing the package imports neither DBOS nor quant-stages.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "DbosExecutor": "quant_flows_dbos.executor",
    "DbosSettings": "quant_flows_dbos.settings",
    "EngineConflictError": "quant_flows_dbos.errors",
    "RunHeldElsewhereError": "quant_flows_dbos.errors",
    "VersionMismatchError": "quant_flows_dbos.errors",
    "pipeline_workflow": "quant_flows_dbos.executor",
    "selection_workflow": "quant_flows_dbos.executor",
    "shutdown": "quant_flows_dbos.engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quant_flows_dbos' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
