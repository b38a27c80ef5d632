"""A DBOS worker: a long-running process that finishes the runs their drivers left behind.

    quant worker dbos [--dbos-database-url URL] [--metrics-port PORT]

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

Stopped (`stop` set: SIGTERM or Ctrl-C in the CLI), it destroys DBOS. A run it was executing stays
pending under this worker's executor id; once the process is gone, the next worker, or any dbos
command on this host, takes it over from its last checkpoint, as after a crash.
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
    """A run the worker took over (`recovered`), or one it took over that ended (`finished`, with
    DBOS's status: SUCCESS, ERROR, CANCELLED...)."""

    event: str
    run_id: str
    status: str | None = None

    def document(self) -> dict[str, Any]:
        return asdict(self)


def run_worker(
    runtime: Runtime,
    stop: threading.Event,
    *,
    dbos_database_url: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    recover_every_s: float = RECOVER_EVERY_S,
    on_ready: Callable[[WorkerReady], None] | None = None,
    on_event: Callable[[WorkerEvent], None] | None = None,
) -> list[str]:
    """Serve as a DBOS worker of `runtime`'s home (see the module) until `stop` is set; /metrics on
    `metrics_port` (0: a free port; None: not served). Gives the runs still executing when it
    stopped: they are left pending, for the next process to take over once this one is gone."""
    if recover_every_s <= 0:
        raise ParamValidationError(
            f"recover_every_s={recover_every_s!r}: give how often to look for abandoned runs, in seconds (> 0)",
            param="recover_every_s", value=recover_every_s, rule="positive",
        )
    settings = settings_for(runtime.home, runtime.versions, dbos_database_url)
    metrics = QuantMetrics()
    # Whatever the configuration says, a worker counts what it executes: serving that is its job.
    counted = dataclasses.replace(runtime, telemetry=Telemetry(tracing=runtime.telemetry.tracing, metrics=metrics))
    endpoint = serve(metrics.registry, metrics_port, metrics_host, option="--metrics-port") if metrics_port is not None else None
    try:
        engine = engine_for(counted, settings)
        try:
            return _serve(engine, stop, endpoint, recover_every_s, on_ready or _ignore, on_event or _ignore)
        finally:
            shutdown()
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
) -> list[str]:
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
            break
        taken = engine.take_over_abandoned()
    return _in_flight(engine)


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
