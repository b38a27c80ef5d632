"""A DBOS worker: a long-running process that finishes the runs their drivers left behind.

    quant worker dbos [--dbos-database-url URL] [--metrics-port PORT] [--grace SECONDS]

quant runs a DBOS run in the process that starts it (the driver: `quant pipeline run ...
--executor dbos`), and DBOS keeps each step's checkpoint in the system database. A worker launches
the same DBOS application (the home's, see `settings`) with quant's pinned application version on
the same system database, and then, until it is stopped:

- takes over the runs that quant processes of this host left pending when they died (at launch,
  then every `recover_every_s`), and finishes them from their last checkpoint: no finished stage
  runs again, the stage that was cut runs again;
- serves the home's sleeve queues: DBOS dequeues from every queue of its application, so sleeves
  of a run a driver is fanning out may run here too;
- counts every stage attempt and run it executes in a Prometheus registry of its own, served on
  /metrics (the names of `quant_core.metrics`).

Stopped (`stop` set: SIGTERM or Ctrl-C in the CLI), it drains (see `drain`): no workflow of this
process starts another step, and the stages in flight get up to `grace_s` seconds to finish and be
checkpointed (`halt` set: at once). A run it was executing then stays pending under this worker's
executor id, at a step boundary (or, past the grace period, inside the stage that was cut); once the
process has ended, the next worker, or any dbos command on this host, takes it over from its last
checkpoint, as after a crash. Nothing of such a run is destroyed or recorded as failed: DBOS stays
launched under its parked threads, and the caller ends the process (the CLI with `os._exit`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from dbos import DBOS
from quant_core.errors import ParamValidationError
from quant_core.execution import Runtime
from quant_core.metrics import MetricsEndpoint, QuantMetrics, serve
from quant_core.telemetry import Telemetry

from quant_flows_dbos.continuation import ACTIVE
from quant_flows_dbos.engine import DbosEngine, engine_for, shutdown
from quant_flows_dbos.settings import settings_for

#: How often a worker looks for runs of processes that died: a dead driver's run waits at most
#: this long, and each look is one query of the system database.
RECOVER_EVERY_S = 5.0
#: How long a stopping worker lets the stages in flight finish: within `docker stop`'s 10 s and
#: Kubernetes' 30 s before their SIGKILL, so the worker ends on its own terms.
GRACE_S = 8.0


@dataclass(frozen=True)
class WorkerReady:
    """What a worker serves, once DBOS is launched."""

    executor_id: str
    home: str
    system_database: str
    application_name: str
    application_version: str
    metrics_url: str | None
    #: Runs (workflow ids, sleeves included) taken over at launch.
    recovered: list[str]

    def document(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkerEvent:
    """A run the worker took over (`recovered`), one it took over that ended (`finished`, with
    DBOS's status: SUCCESS, ERROR, CANCELLED...), or the worker told to stop (`stopping`: it
    starts no new stage and waits for those in flight)."""

    event: str
    run_id: str | None = None
    status: str | None = None

    def document(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkerStopped:
    """How a worker stopped. `drained`: every stage in flight finished within the grace period
    (none was cut). `handed_over`: the runs (sleeves included) left pending under this worker's
    executor id, for the next quant process of this host once this one has ended; when there are
    any, DBOS is still launched under their parked threads and the process must end now."""

    event: str
    drained: bool
    handed_over: list[str]

    def document(self) -> dict[str, Any]:
        return asdict(self)


def run_worker(
    runtime: Runtime,
    stop: threading.Event,
    *,
    halt: threading.Event | None = None,
    grace_s: float = GRACE_S,
    dbos_database_url: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    recover_every_s: float = RECOVER_EVERY_S,
    on_ready: Callable[[WorkerReady], None] | None = None,
    on_event: Callable[[WorkerEvent], None] | None = None,
) -> WorkerStopped:
    """Serve as a DBOS worker of `runtime`'s home (see the module) until `stop` is set, then drain
    for up to `grace_s` seconds (until `halt` is set); /metrics on `metrics_port` (0: a free port;
    None: not served). When it stops with runs handed over, or raises while DBOS is still
    launched (`engine.launched()`), end the process (`os._exit`): their threads never return."""
    if recover_every_s <= 0:
        raise ParamValidationError(
            f"recover_every_s={recover_every_s!r}: give how often to look for abandoned runs, in seconds (> 0)",
            param="recover_every_s", value=recover_every_s, rule="positive",
        )
    if grace_s < 0:
        raise ParamValidationError(
            f"grace_s={grace_s!r}: give how long the stages in flight may finish once the worker is "
            f"stopped, in seconds (>= 0; 0 stops at once)",
            param="grace_s", value=grace_s, rule="non-negative",
        )
    settings = settings_for(runtime.home, runtime.versions, dbos_database_url)
    metrics = QuantMetrics()
    # Whatever the configuration says, a worker counts what it executes: serving that is its job.
    counted = dataclasses.replace(runtime, telemetry=Telemetry(tracing=runtime.telemetry.tracing, metrics=metrics))
    endpoint = serve(metrics.registry, metrics_port, metrics_host, option="--metrics-port") if metrics_port is not None else None
    try:
        engine = engine_for(counted, settings)
        try:
            _serve(engine, stop, endpoint, recover_every_s, on_ready or _ignore, on_event or _ignore)
        finally:
            # Stopped or failed (the system database gone, say): the same hand-over.
            stopped = _hand_over(engine, grace_s, halt)
        return stopped
    finally:
        if endpoint is not None:
            endpoint.shutdown()


def _serve(
    engine: DbosEngine,
    stop: threading.Event,
    endpoint: MetricsEndpoint | None,
    recover_every_s: float,
    on_ready: Callable[[WorkerReady], None],
    on_event: Callable[[WorkerEvent], None],
) -> None:
    # The worker follows the runs it took over itself (a driver waits for them instead).
    recovered, engine.recovered = engine.recovered, []
    settings = engine.settings
    on_ready(
        WorkerReady(
            executor_id=engine.identity.executor_id, home=str(engine.runtime.home.root),
            system_database=settings.database, application_name=settings.application_name,
            application_version=settings.application_version,
            metrics_url=endpoint.url if endpoint is not None else None, recovered=list(recovered),
        )
    )
    watched: set[str] = set()
    taken = recovered
    while True:
        for run_id in taken:
            on_event(WorkerEvent("recovered", run_id))
        watched.update(taken)
        for run_id, status in _ended(watched):
            watched.discard(run_id)
            on_event(WorkerEvent("finished", run_id, status))
        if stop.wait(recover_every_s):
            on_event(WorkerEvent("stopping"))
            return
        taken = engine.take_over_abandoned()


def _hand_over(engine: DbosEngine, grace_s: float, halt: threading.Event | None) -> WorkerStopped:
    """Drain, then leave what is still pending here to the next process; DBOS is destroyed only
    when nothing is (a stage finishing after that would fail its run)."""
    drained = engine.drain.drain(grace_s, lambda: set(_in_flight(engine)), halt)
    handed_over = _in_flight(engine)
    if not handed_over and drained:
        shutdown()
    return WorkerStopped("stopped", drained, handed_over)


def _ended(run_ids: set[str]) -> list[tuple[str, str]]:
    if not run_ids:
        return []
    found = DBOS.list_workflows(workflow_ids=sorted(run_ids), load_input=False, load_output=False)
    return [(status.workflow_id, status.status) for status in found if status.status not in ACTIVE]


def _in_flight(engine: DbosEngine) -> list[str]:
    """The runs this process holds (DBOS's pending workflows of its executor id)."""
    pending = DBOS.list_workflows(
        status="PENDING", executor_id=engine.identity.executor_id, load_input=False, load_output=False
    )
    return sorted(status.workflow_id for status in pending)


def _ignore(_: Any) -> None:
    return None
