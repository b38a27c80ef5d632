"""`quant worker dbos`: a long-running DBOS worker (quant_flows_dbos.worker) with /metrics.

The backend is imported only when the command runs; without it, the command says which package
to install (exit 3).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from quant_core.errors import MissingPackageError

from quant_cli import render
from quant_cli.jsonout import write_json
from quant_cli.options import DbosDatabaseUrlOption, MetricsHostOption, MetricsPortOption
from quant_cli.state import get_state

DBOS_PACKAGE = "quant-flows-dbos"


def worker_dbos(
    ctx: typer.Context,
    dbos_database_url: DbosDatabaseUrlOption = None,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = "127.0.0.1",
    recover_every: Annotated[
        float,
        typer.Option("--recover-every", min=0.1, metavar="SECONDS", help="How often to look for runs of quant processes that died."),
    ] = 5.0,
) -> None:
    """Finish the DBOS runs that quant processes of this host left behind, until stopped (SIGTERM, Ctrl-C).

    Launches DBOS on the home's application (same system database, quant's pinned version), takes over the runs of dead processes (at start, then every --recover-every seconds) and finishes them from their last checkpoint, serves the home's sleeve queues, and serves /metrics of what it executes. With --json: one document when ready, then one JSON line per run taken over or finished."""
    state = get_state(ctx)
    try:
        from quant_flows_dbos.worker import run_worker
    except ImportError:
        raise MissingPackageError("`quant worker dbos`", DBOS_PACKAGE) from None
    settings = state.config().settings
    stop = threading.Event()

    def ready(info: Any) -> None:
        document = info.document()
        if state.json_output:
            write_json({"worker": document})
            return
        render.key_values(
            state.err,
            [
                ("executor id", document["executor_id"]),
                ("system database", document["system_database"]),
                ("version", document["application_version"]),
                ("metrics", document["metrics_url"]),
                ("taken over", ", ".join(document["recovered"]) or None),
            ],
        )
        render.line(state.err, "serving; SIGTERM or Ctrl-C stops")

    def event(happened: Any) -> None:
        if state.json_output:
            sys.stdout.write(json.dumps(happened.document()) + "\n")
            sys.stdout.flush()
        else:
            status = f" ({happened.status})" if happened.status else ""
            render.line(state.err, f"{happened.event}: {happened.run_id}{status}")

    with _stopped_by_signals(stop):
        in_flight = run_worker(
            state.sdk().runtime(), stop,
            dbos_database_url=dbos_database_url or settings.executor.dbos.database_url,
            metrics_port=settings.telemetry.metrics_port if metrics_port is None else metrics_port,
            metrics_host=metrics_host, recover_every_s=recover_every, on_ready=ready, on_event=event,
        )
    if in_flight:
        render.line(state.err, f"stopped; left pending for the next worker: {', '.join(in_flight)}")
        # Their stages still run in DBOS's executor threads, which the interpreter would wait for
        # at exit (a stage may take an hour) and which would then fail against a destroyed DBOS.
        # Ending now leaves them as a crash does: pending, taken over from their last checkpoint.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` (the worker then stops between two looks) instead of
    raising in the middle of DBOS's shutdown."""
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in handled}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def build() -> typer.Typer:
    app = typer.Typer(help="Run long-lived workers of a backend.", no_args_is_help=True)
    app.command("dbos")(worker_dbos)
    return app
