"""What a stage's Prefect task run executes: one quant attempt per call.

Prefect calls the task function once per attempt (a retry calls it again, in the same process:
the flow's thread or the Ray worker the task was sent to). Each call runs the attempt with
`quant_core.remote.run_attempt`, which never writes the run record; the outcomes of every
attempt of this task run are kept here and travel back to the driver as JSON, in the task's
result or in the `StageAttemptError` of its last failure, so the driver records all of them.

A `StageAttempts` is made for one task run (one stage of one run): its list of outcomes is that
task run's history, not state shared between runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue
from quant_core.execution import Runtime
from quant_core.remote import AttemptOutcome, run_attempt

EXECUTOR_NAME = "prefect"


class StageAttemptError(Exception):
    """A stage attempt failed. Raised from the task so that Prefect records a failed attempt and
    retries it when `retryable`; carries every attempt's outcome so far (JSON)."""

    def __init__(self, attempts: list[dict[str, JsonValue]], retryable: bool) -> None:
        last = attempts[-1]
        super().__init__(f"stage {last['stage_id']} failed in run {last['run_id']}: {last['error']}")
        self.attempts = attempts
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses back from Ray workers by pickle: rebuild from the fields, not from the message.
        return (type(self), (self.attempts, self.retryable))

    def outcomes(self) -> list[AttemptOutcome]:
        return [AttemptOutcome.model_validate(a) for a in self.attempts]


class StageAttempts:
    """The callable behind one stage's task run. `cache_key` is quant's content key of this
    stage on this input (computed by the driver): Prefect's cache policy reads it from here."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        run_id: str,
        step: int,
        stage_id: str,
        params: Mapping[str, Any],
        cache_key: str,
        on_ray: bool = False,
        traceparent: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.on_ray = on_ray
        #: The run's span on the driver (W3C traceparent; None when tracing is off): each
        #: attempt's span is its child, on a flow thread or a Ray worker alike.
        self.traceparent = traceparent
        self.run_id = run_id
        self.step = step
        self.stage_id = stage_id
        self.params = dict(params)
        self.cache_key = cache_key
        self.attempts: list[dict[str, JsonValue]] = []
        #: Whether the attempt that just failed may be retried: False for a user error, and for
        #: anything that is not a stage failure (a bug in quant must not be retried as if
        #: transient).
        self.retryable = False
        # Prefect names a task after its function; an instance has no __name__ of its own.
        self.__name__ = stage_id

    def __call__(self, context: str) -> dict[str, JsonValue]:
        """One attempt on `context`, the input context as a JSON document: a string, which
        Prefect passes as it is (a dict it would walk, looking for futures, at every submit)."""
        self.retryable = False
        node, worker = ray_worker_identity() if self.on_ray else (None, None)
        outcome = run_attempt(
            self.runtime, run_id=self.run_id, step=self.step, stage_id=self.stage_id, context=json.loads(context),
            params=self.params, attempt=len(self.attempts) + 1, executor=EXECUTOR_NAME,
            node=node, worker=worker, traceparent=self.traceparent,
        )
        self.attempts.append(outcome.model_dump(mode="json"))
        if self.on_ray:
            # A Ray worker exports the attempt's span now (when it exports any): Ray may stop
            # with the flow run, sooner than a batch of spans is due.
            self.runtime.telemetry.flush()
        if not outcome.succeeded:
            self.retryable = outcome.retryable
            raise StageAttemptError(list(self.attempts), outcome.retryable)
        return {"cache_key": self.cache_key, "attempts": list(self.attempts)}


def retry_if_retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn` (it must be a plain function): retry a transient failure,
    never a user error (bad parameters or data fail the same way every time)."""
    attempts = getattr(task, "fn", None)
    return isinstance(attempts, StageAttempts) and attempts.retryable


def outcomes_of(result: Mapping[str, Any]) -> list[AttemptOutcome]:
    """The attempt outcomes inside a task's result (as returned, or as Prefect persisted it)."""
    return [AttemptOutcome.model_validate(a) for a in result["attempts"]]


def ray_worker_identity() -> tuple[str, str]:
    """(node id, worker id) of the Ray worker running this attempt, for the ledger (attempts on
    the thread runner run in the driver's process and leave both empty, as local ones do)."""
    import ray

    context = ray.get_runtime_context()
    return context.get_node_id(), context.get_worker_id()
