"""`map(stage_id, contexts, params)` on every executor: each context is a one-stage run of its own,
and failures are raised together after every run finished."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from quant_core.context import RunContext
from quant_core.errors import QuantError, StageFailedError
from quant_core.execution import Runtime, recorded_run
from quant_core.pipeline import StageStep
from quant_core.records import RunRecord

#: What one context's run can end with, short of a bug: its stage failed, a parameter was bad (or, on
#: a remote executor, another quant error the worker gave back with its exit code).
MapFailure = QuantError


@contextmanager
def stage_run(
    runtime: Runtime,
    stage_id: str,
    context: RunContext,
    params: Mapping[str, Any],
    *,
    executor: str,
    engine: Mapping[str, Any] | None = None,
) -> Iterator[RunRecord]:
    """The record of one stage run on `context` (its run id names the run)."""
    step = StageStep(stage=stage_id, params=dict(params))
    with recorded_run(
        runtime, kind="stage", target=stage_id, context=context, params={stage_id: dict(params)},
        steps=[step.model_dump(mode="json")], executor=executor, engine=engine,
    ) as record:
        yield record


def raise_map_failures(
    stage_id: str, contexts: Sequence[RunContext], failures: Sequence[tuple[str, MapFailure]]
) -> None:
    """Raise what the failed runs of a map ended with: one run's error as it is (a bad parameter
    stays a parameter error), several as one `StageFailedError` naming every run."""
    if len(failures) == 1 and len(contexts) == 1:
        raise failures[0][1]
    if failures:
        raise StageFailedError(
            stage_id,
            ",".join(run_id for run_id, _ in failures),
            "; ".join(
                f"{run_id}: {exc.cause if isinstance(exc, StageFailedError) else exc}"
                for run_id, exc in failures
            ),
        )
