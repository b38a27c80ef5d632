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

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from quant_core.context import RunContext
from quant_core.errors import ParamValidationError, StageFailedError
from quant_core.pipeline import PipelineSpec
from quant_core.executors.stage_runs import raise_map_failures
from quant_core.remote import RemoteQuantError


@runtime_checkable
class Executor(Protocol):
    name: str

    def run_pipeline(
        self, spec: PipelineSpec, context: RunContext, params: Mapping[str, Mapping[str, Any]]
    ) -> RunContext: ...

    def map(
        self, stage_id: str, contexts: Sequence[RunContext], params: Mapping[str, Any]
    ) -> list[RunContext]: ...


def map_each(
    stage_id: str, contexts: Sequence[RunContext], run_one: Callable[[RunContext], RunContext]
) -> list[RunContext]:
    """`Executor.map` for any executor: `run_one(context)` for every context (each its own run),
    the outputs in order, and only after every run finished one error naming each failed run.

    A single run's error is raised as it is, so a bad parameter stays a parameter error."""
    outputs: list[RunContext] = []
    failures: list[tuple[str, StageFailedError | ParamValidationError | RemoteQuantError]] = []
    for context in contexts:
        try:
            outputs.append(run_one(context))
        except (StageFailedError, ParamValidationError, RemoteQuantError) as exc:
            failures.append((context.run_id, exc))
    raise_map_failures(stage_id, contexts, failures)
    return outputs
