"""One stage attempt away from the driver: on a Ray worker, in a Prefect task, in a DBOS step.

The worker runs the attempt with `execute_stage` against a `BufferedRecord`, which keeps the
ledger line and the context snapshot in memory. They travel back inside an `AttemptOutcome`, a
small JSON document, and the driver writes them into the run's record with `apply_outcome`. So:

- only the driver writes run records (the run folder need not be reachable from a worker);
- what crosses the engine boundary is JSON: the input context, the params, the output context
  and the ledger line; data stays in the artifact store, named by reference;
- a failure comes back as data too (`error`, `retryable`), and the driver raises it as the same
  `StageFailedError` the local executor raises, after recording it.

Every backend uses this pair, so the same pipeline leaves the same record on every executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from quant_core.context import RunContext, context_from_data
from quant_core.errors import QuantError, StageFailedError, is_retryable
from quant_core.execution import Runtime, execute_stage
from quant_core.hashing import content_hash
from quant_core.records import LedgerEntry, RunRecord, StepTimer, validate_run_id


class BufferedRecord:
    """Stands in for a `RunRecord` on a worker: keeps what `execute_stage` writes in memory."""

    def __init__(self, run_id: str, *, node: str | None = None, worker: str | None = None) -> None:
        self.run_id = validate_run_id(run_id)
        self.node = node
        self.worker = worker
        self.ledger: list[LedgerEntry] = []
        self.snapshots: list[tuple[str, dict[str, Any]]] = []

    context_name = staticmethod(RunRecord.context_name)

    def append_ledger(self, entry: LedgerEntry) -> None:
        self.ledger.append(entry.model_copy(update={"node": self.node, "worker": self.worker}))

    def write_context(self, name: str, context: RunContext) -> None:
        self.snapshots.append((name, context.model_dump(mode="json")))


class AttemptOutcome(BaseModel):
    """What one remote attempt gives back: JSON only, small whatever the universe size."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    run_id: str
    stage_id: str
    step: int
    attempt: int
    context: dict[str, JsonValue] | None = None
    error: str | None = None
    #: The error's class name, e.g. "ParamValidationError", and the CLI exit code it maps to.
    error_type: str | None = None
    exit_code: int = 4
    retryable: bool = True
    ledger: list[LedgerEntry] = []
    snapshots: list[tuple[str, dict[str, JsonValue]]] = []

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @property
    def cache_hit(self) -> bool:
        return any(entry.cache_hit for entry in self.ledger)


def run_attempt(
    runtime: Runtime,
    *,
    run_id: str,
    step: int,
    stage_id: str,
    context: Mapping[str, Any] | RunContext,
    params: Mapping[str, Any],
    attempt: int = 1,
    executor: str,
    node: str | None = None,
    worker: str | None = None,
    traceparent: str | None = None,
) -> AttemptOutcome:
    """Run one attempt of one stage where this function is called (a worker) and give back its
    outcome, failure included: it raises only for a bug in quant itself.

    `traceparent` is the driver's run span, taken with `runtime.telemetry.traceparent()` inside
    the run's `recorded_run` block on the driver's thread (None when tracing is off): the
    attempt's span joins the run's trace, whatever process or thread runs it."""
    with runtime.telemetry.attach(traceparent):
        return _run_attempt(
            runtime, run_id=run_id, step=step, stage_id=stage_id, context=context, params=params,
            attempt=attempt, executor=executor, node=node, worker=worker,
        )


def _run_attempt(
    runtime: Runtime,
    *,
    run_id: str,
    step: int,
    stage_id: str,
    context: Mapping[str, Any] | RunContext,
    params: Mapping[str, Any],
    attempt: int,
    executor: str,
    node: str | None,
    worker: str | None,
) -> AttemptOutcome:
    record = BufferedRecord(run_id, node=node, worker=worker)
    given = context if isinstance(context, RunContext) else context_from_data(dict(context))
    common = {"run_id": run_id, "stage_id": stage_id, "step": step, "attempt": attempt}
    try:
        output = execute_stage(
            runtime, record, step=step, stage_id=stage_id, context=given, params=params,  # type: ignore[arg-type]
            attempt=attempt, executor=executor,
        )
    except StageFailedError as failure:
        return AttemptOutcome(
            **common, error=failure.cause, error_type="StageFailedError", retryable=failure.retryable,
            ledger=record.ledger, snapshots=record.snapshots,
        )
    except QuantError as failure:  # raised before the attempt started: bad params, unknown stage
        return AttemptOutcome(
            **common, error=str(failure), error_type=type(failure).__name__, exit_code=failure.exit_code,
            retryable=is_retryable(failure),
            ledger=record.ledger, snapshots=record.snapshots,
        )
    return AttemptOutcome(
        **common, context=output.model_dump(mode="json"), ledger=record.ledger, snapshots=record.snapshots
    )


def lost_attempt(
    *,
    run_id: str,
    step: int,
    stage_id: str,
    context: RunContext,
    attempt: int,
    error: str,
    executor: str,
    timer: StepTimer,
    node: str | None = None,
    worker: str | None = None,
) -> AttemptOutcome:
    """The outcome of an attempt whose worker died before it could answer (its process killed or
    out of memory, its actor gone): a failed ledger line the driver writes in the worker's place,
    with the engine's own error text. Not retryable: the same input would most likely kill the
    process again; the run stays resumable."""
    entry = LedgerEntry(
        run_id=run_id, step=step, stage_id=stage_id, attempt=attempt, status="failed",
        started_at=timer.started_at, duration_s=timer.elapsed(), input_hash=content_hash(context.cache_view()),
        error=error, executor=executor, node=node, worker=worker,
    )
    return AttemptOutcome(
        run_id=run_id, stage_id=stage_id, step=step, attempt=attempt, error=error,
        error_type="StageFailedError", retryable=False, ledger=[entry],
    )


class RemoteQuantError(QuantError):
    """A quant error raised on a worker before the attempt started (a bad parameter, an unknown
    stage), given back with its class name and its exit code."""

    def __init__(self, message: str, *, error_type: str | None, exit_code: int) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.exit_code = exit_code


def record_outcome(record: RunRecord, outcome: AttemptOutcome) -> None:
    """Write a remote attempt's ledger line and snapshot into the driver's record (for an attempt
    the engine retried: its failure is history, not the step's result)."""
    for name, data in outcome.snapshots:
        record.write_context(name, context_from_data(data))
    for entry in outcome.ledger:
        record.append_ledger(entry)


def apply_outcome(record: RunRecord, outcome: AttemptOutcome) -> RunContext:
    """Write a remote attempt's ledger line and snapshot into the driver's record, then give its
    output context or raise its failure as `StageFailedError` (as the local executor would)."""
    record_outcome(record, outcome)
    if outcome.error is not None:
        if outcome.error_type == "StageFailedError":
            raise StageFailedError(outcome.stage_id, outcome.run_id, outcome.error, retryable=outcome.retryable)
        raise RemoteQuantError(outcome.error, error_type=outcome.error_type, exit_code=outcome.exit_code)
    assert outcome.context is not None
    return context_from_data(outcome.context)


__all__ = [
    "AttemptOutcome", "BufferedRecord", "RemoteQuantError", "apply_outcome", "lost_attempt", "record_outcome",
    "run_attempt",
]
