"""quant-core's models are built on first use (`defer_build`), and a first use from many threads
at once is safe: a fan-out's sleeves on the Prefect thread runner or DBOS validate their first
contexts together, in a process that has validated none before."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

from pydantic import BaseModel

import quant_core

#: Built when defined, because every process that imports them instantiates them at once (each
#: registered stage has a spec).
BUILT_AT_DEFINITION = {"quant_core.stage.StageSpec"}


def quant_core_models() -> list[type[BaseModel]]:
    found = {}
    for module_info in pkgutil.walk_packages(quant_core.__path__, "quant_core."):
        if module_info.name.startswith("quant_core.testing"):
            continue
        try:
            module = importlib.import_module(module_info.name)
        except ImportError:  # an optional extra (opentelemetry, prometheus) is not installed
            continue
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseModel) and value.__module__.startswith("quant_core."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def test_every_quant_core_model_is_built_on_first_use() -> None:
    models = quant_core_models()
    assert len(models) >= 20
    eager = [
        f"{m.__module__}.{m.__qualname__}" for m in models
        if not m.model_config.get("defer_build") and f"{m.__module__}.{m.__qualname__}" not in BUILT_AT_DEFINITION
    ]
    assert eager == []


FIRST_USE_FROM_THREADS = r"""
import json, threading
from concurrent.futures import ThreadPoolExecutor
from quant_core.context import MetaContext, SelectionContext, SpilledCollection, context_from_json
from quant_core.artifacts import ArtifactRef

ref = {"sha256": "a" * 64, "size": 10, "media_type": "application/x-parquet", "uri": "sha256:" + "a" * 64}
selection = {"kind": "selection", "run_id": "r1", "returns": ref, "winners": ["A:X", "B:Y"],
             "clusters": {"c0": ["A:X"], "c1": ["B:Y"]}}
meta = {"kind": "meta", "run_id": "m1", "sleeves": [{"name": "eq", "profile": "demo_equities"}]}
models = (SelectionContext, MetaContext, SpilledCollection, ArtifactRef)
assert not any(m.__pydantic_complete__ for m in models), [m.__name__ for m in models if m.__pydantic_complete__]
barrier = threading.Barrier(16)

def first_use(i):
    barrier.wait()  # all at once, none built yet
    return context_from_json(json.dumps(selection if i % 2 else meta))

with ThreadPoolExecutor(16) as pool:
    results = list(pool.map(first_use, range(16)))
for i, context in enumerate(results):
    if i % 2:
        assert type(context) is SelectionContext and context.returns.sha256 == "a" * 64, context
        assert context.winners == ["A:X", "B:Y"] and context.clusters == {"c0": ["A:X"], "c1": ["B:Y"]}
    else:
        assert type(context) is MetaContext and context.sleeves[0].profile == "demo_equities", context
assert SelectionContext.__pydantic_complete__ and MetaContext.__pydantic_complete__
print("ok", len(results))
"""


def test_first_validation_from_many_threads_at_once_is_safe() -> None:
    """In a fresh interpreter, so that the models really are unbuilt when the threads start."""
    result = subprocess.run(
        [sys.executable, "-c", FIRST_USE_FROM_THREADS], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "16"]
