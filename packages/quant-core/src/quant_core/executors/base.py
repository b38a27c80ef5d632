"""The executor protocol every backend implements.

An executor is built as `factory(runtime, **options)` and then:

- `run_pipeline(spec, context, params)` runs every step of `spec` (includes expanded by
  `runtime.registry.flatten`) starting from `context`, with `params[stage_id]` laid over each
  step's own params, and returns the final context;
- `map(stage_id, contexts, params)` runs one stage on each context (each its own run, named by
  the context's run id) and returns the outputs in order, raising only after every one finished.

Both leave the same run record, through `quant_core.execution` (`recorded_run`, `execute_stage`),
and fan-outs go through `quant_core.executors.fanout`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from quant_core.context import RunContext
from quant_core.pipeline import PipelineSpec


@runtime_checkable
class Executor(Protocol):
    name: str

    def run_pipeline(
        self, spec: PipelineSpec, context: RunContext, params: Mapping[str, Mapping[str, Any]]
    ) -> RunContext: ...

    def map(
        self, stage_id: str, contexts: Sequence[RunContext], params: Mapping[str, Any]
    ) -> list[RunContext]: ...
