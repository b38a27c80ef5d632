"""The driver's side of stage attempts: send them to Ray, record each outcome in its run as it
comes back, and retry what the stage's `retries` allow, exactly as the local executor does
(`execute_stage_with_retries`: user errors never retried, exponential backoff from `retry_delay`).

Several calls (the contexts of `map_stages`) are in flight at once; one call (a pipeline step) is
the same loop with one entry. A worker or actor that dies under an attempt cannot answer: the
driver records that attempt as failed with Ray's error text (`lost_attempt`) and does not retry
it (the same input would most likely kill the process again; the run stays resumable).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import ray
from quant_core.context import RunContext
from quant_core.errors import QuantError, StageFailedError
from quant_core.execution import retry_delay
from quant_core.records import RunRecord, StepTimer
from quant_core.registry import StageRegistry
from quant_core.remote import AttemptOutcome, apply_outcome, lost_attempt

from quant_compute_ray import wire
from quant_compute_ray.errors import RunInterrupted
from quant_compute_ray.session import RunSession
from quant_compute_ray.tasks import execute_stage_remote
from quant_compute_ray.worker import EXECUTOR_NAME, attempt_request


@dataclass(frozen=True)
class StageCall:
    """One stage on one context in one run, followed by the driver through its attempts."""

    record: RunRecord
    step: int
    stage_id: str
    context: RunContext
    params: dict[str, Any]
    #: The run's span (W3C traceparent, taken on the driver inside the run): every attempt's
    #: span on a worker is its child. None when tracing is off.
    traceparent: str | None = None

    def request(self, attempt: int) -> str:
        """The attempt's request as JSON (before `wire.pack`)."""
        return attempt_request(
            run_id=self.record.run_id, step=self.step, stage_id=self.stage_id,
            context=self.context.model_dump(mode="json"), params=self.params, attempt=attempt,
            traceparent=self.traceparent,
        )


class Placement(Protocol):
    """Where attempts run: a Ray task each, or one sleeve's actor."""

    def submit(self, request: str) -> ray.ObjectRef: ...

    def done(self, ref: ray.ObjectRef) -> None: ...

    #: The node and worker an attempt runs on, when known before it answers (an actor's).
    where: dict[str, str | None]


@dataclass
class TaskPlacement:
    """Each attempt is its own `execute_stage_remote` task, tracked by the run so an interrupt
    cancels it."""

    session: RunSession
    where: dict[str, str | None] = field(default_factory=dict)

    def submit(self, request: str) -> ray.ObjectRef:
        ref = execute_stage_remote.remote(self.session.runtime, request)
        self.session.started_task(ref)
        return ref

    def done(self, ref: ray.ObjectRef) -> None:
        self.session.finished_task(ref)


@dataclass
class ActorPlacement:
    """Every attempt goes to one sleeve actor (killed as a whole on an interrupt)."""

    actor: Any
    #: The actor's answer to `identity()`, asked first: its node and worker, for an attempt that
    #: dies with it.
    identity: ray.ObjectRef

    def submit(self, request: str) -> ray.ObjectRef:
        return self.actor.run_attempt.remote(request)

    def done(self, ref: ray.ObjectRef) -> None:
        return None

    @property
    def where(self) -> dict[str, str | None]:
        try:
            return ray.get(self.identity)
        except ray.exceptions.RayActorError:
            return {}  # the actor died before it could say where it ran: the attempt's error says why


@dataclass
class _InFlight:
    index: int
    attempt: int
    timer: StepTimer


def run_stage_calls(
    session: RunSession, registry: StageRegistry, calls: Iterable[StageCall], placement: Placement
) -> list[RunContext | QuantError]:
    """Run every call to its end; per call (in the order `calls` gave them), the output context or
    the quant error it failed with (already recorded in its run). Raises only `RunInterrupted` or
    a bug in quant itself. Each call is sent as soon as `calls` gives it, so workers start while
    the driver is still opening the next runs' records."""
    sent: list[StageCall] = []
    results: list[RunContext | QuantError | None] = []
    in_flight: dict[ray.ObjectRef, _InFlight] = {}
    backing_off: list[tuple[float, int, int]] = []  # (due on the monotonic clock, call index, attempt)

    def launch(index: int, attempt: int) -> None:
        flight = _InFlight(index, attempt, StepTimer())
        in_flight[placement.submit(wire.pack(sent[index].request(attempt), session.store))] = flight

    for call in calls:
        sent.append(call)
        results.append(None)
        launch(len(sent) - 1, 1)
    while in_flight or backing_off:
        now = time.monotonic()
        for due in [entry for entry in backing_off if entry[0] <= now]:
            backing_off.remove(due)
            launch(due[1], due[2])
        next_due = min((entry[0] for entry in backing_off), default=None)
        if not in_flight:
            session.sleep(next_due - now)  # type: ignore[operator]
            continue
        for ref in session.wait(list(in_flight), None if next_due is None else max(next_due - now, 0.0)):
            flight = in_flight.pop(ref)
            call = sent[flight.index]
            outcome = _outcome(session, placement, call, flight, ref)
            try:
                results[flight.index] = apply_outcome(call.record, outcome)
            except StageFailedError as failure:
                spec = registry.get(call.stage_id)
                if failure.retryable and flight.attempt <= spec.retries:
                    due = time.monotonic() + retry_delay(spec.retry_delay_s, flight.attempt)
                    backing_off.append((due, flight.index, flight.attempt + 1))
                else:
                    results[flight.index] = failure
            except QuantError as error:  # raised on the worker before the attempt began
                results[flight.index] = error
    return results  # type: ignore[return-value]


def _outcome(
    session: RunSession, placement: Placement, call: StageCall, flight: _InFlight, ref: ray.ObjectRef
) -> AttemptOutcome:
    try:
        answer = ray.get(ref)
    except ray.exceptions.RayTaskError:
        raise  # the worker code itself raised: run_attempt gives every stage failure back as data
    except ray.exceptions.RayError as lost:
        if session.interrupted is not None:
            raise RunInterrupted(session.interrupted.signal_name) from None
        return lost_attempt(
            run_id=call.record.run_id, step=call.step, stage_id=call.stage_id, context=call.context,
            attempt=flight.attempt, error=ray_error_text(lost), executor=EXECUTOR_NAME, timer=flight.timer,
            node=placement.where.get("node"), worker=placement.where.get("worker"),
        )
    finally:
        placement.done(ref)
    return wire.decode_outcome(wire.unpack(answer, session.store))


def ray_error_text(error: BaseException) -> str:
    """Ray's error as one line (its messages span several), led by its class: `ActorDiedError: ...`."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"
