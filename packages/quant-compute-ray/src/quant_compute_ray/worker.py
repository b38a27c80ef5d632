"""What runs on a Ray worker: one stage attempt, from a JSON request to a JSON outcome.

The driver puts the `Runtime` (QuantHome and registry) in the object store once per run and sends
tasks and actors a `RuntimeHandle` to it. Unpickling a Runtime costs 10-20 ms (its registry is
rebuilt), so each worker process keeps the last few it resolved, by object id: a task pays for it
once per worker and run, not once per stage.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import ray
from quant_core.execution import Runtime
from quant_core.remote import run_attempt

from quant_compute_ray import wire

EXECUTOR_NAME = "ray"
#: Runtimes a worker process keeps resolved (one per concurrent run it serves is enough).
KEPT_RUNTIMES = 4

_resolved: OrderedDict[str, Runtime] = OrderedDict()
_resolved_lock = threading.Lock()


@dataclass(frozen=True)
class RuntimeHandle:
    """A run's Runtime in the object store. Wrapped, so Ray hands the reference to the task as it
    is instead of resolving (and unpickling) it for every call."""

    ref: ray.ObjectRef

    def resolve(self) -> Runtime:
        key = self.ref.hex()
        with _resolved_lock:
            runtime = _resolved.get(key)
            if runtime is not None:
                _resolved.move_to_end(key)
                return runtime
        runtime = ray.get(self.ref)
        with _resolved_lock:
            _resolved[key] = runtime
            while len(_resolved) > KEPT_RUNTIMES:
                _resolved.popitem(last=False)
        return runtime


def attempt_request(
    *,
    run_id: str,
    step: int,
    stage_id: str,
    context: dict[str, Any],
    params: dict[str, Any],
    attempt: int,
    traceparent: str | None = None,
) -> str:
    """The JSON a stage attempt travels to a worker as (data stays in the artifact store).
    `traceparent`: the run's span on the driver, which the attempt's span joins on the worker."""
    return json.dumps(
        {
            "run_id": run_id, "step": step, "stage_id": stage_id, "context": context, "params": params,
            "attempt": attempt, "traceparent": traceparent,
        },
        separators=(",", ":"),
    )


def attempt_on_worker(runtime: Runtime, request: str) -> str:
    """Run one attempt here and give back its `AttemptOutcome` (see `wire`), naming this node and
    worker. Request and outcome may travel through the runtime's artifact store."""
    where = ray.get_runtime_context()
    outcome = run_attempt(
        runtime, **json.loads(wire.unpack(request, runtime.store)), executor=EXECUTOR_NAME,
        node=where.get_node_id(), worker=where.get_worker_id(),
    )
    # Export the attempt's span before answering (when this worker exports any): a sleeve's actor
    # is killed as soon as its sleeve ends, and a Ray started for the run stops after it, both
    # sooner than a batch of spans is due.
    runtime.telemetry.flush()
    return wire.pack(wire.encode_outcome(outcome), runtime.store)


def worker_identity() -> dict[str, Any]:
    """Where the calling task or actor runs: node id, worker id and process id."""
    import os

    where = ray.get_runtime_context()
    return {"node": where.get_node_id(), "worker": where.get_worker_id(), "pid": os.getpid()}
