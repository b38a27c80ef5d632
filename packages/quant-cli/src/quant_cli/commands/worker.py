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
from typing import Annotated, Any, NoReturn

import typer
from quant_core.errors import MissingPackageError

from quant_cli import render
from quant_cli.errors import report_error
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
    grace: Annotated[
        float,
        typer.Option(
            "--grace", min=0, metavar="SECONDS",
            help="Once stopped, how long the stages in flight may finish (0: stop at once). Keep it under your supervisor's kill timeout.",
        ),
    ] = 8.0,
) -> None:
    """Finish the DBOS runs that quant processes of this host left behind, until stopped (SIGTERM, Ctrl-C).

    Launches DBOS on the home's application (same system database, quant's pinned version), takes over the runs of dead processes (at start, then every --recover-every seconds) and finishes them from their last checkpoint, serves the home's sleeve queues, and serves /metrics of what it executes. With --json: one document when ready, then one JSON line per run taken over or finished, one when told to stop and one when stopped.

    Stopping (SIGTERM, Ctrl-C): it starts no new stage, gives the stages in flight up to --grace seconds to finish (a second SIGTERM or Ctrl-C: at once), then exits 0, leaving the runs it held pending at their last checkpoint. The next worker (or any --executor dbos command) of this host takes them over once this one has exited: a stage that finished in time does not run again, one that did not (or a SIGKILL) runs again there."""
    state = get_state(ctx)
    try:
        from quant_flows_dbos.engine import launched
        from quant_flows_dbos.worker import run_worker
    except ImportError:
        raise MissingPackageError("`quant worker dbos`", DBOS_PACKAGE) from None
    settings = state.config().settings
    stop, halt = threading.Event(), threading.Event()

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
        elif happened.event == "stopping":
            render.line(state.err, f"stopping: no new stage; those in flight have {grace:g} s to finish (SIGTERM or Ctrl-C again: now)")
        else:
            status = f" ({happened.status})" if happened.status else ""
            render.line(state.err, f"{happened.event}: {happened.run_id}{status}")

    with _stopped_by_signals(stop, halt):
        try:
            stopped = run_worker(
                state.sdk().runtime(), stop, halt=halt, grace_s=grace,
                dbos_database_url=dbos_database_url or settings.executor.dbos.database_url,
                metrics_port=settings.telemetry.metrics_port if metrics_port is None else metrics_port,
                metrics_host=metrics_host, recover_every_s=recover_every, on_ready=ready, on_event=event,
            )
        except Exception as error:
            if not launched():
                raise
            # Failed with runs in flight (the system database gone, say): report it, then end as below.
            _end_now(report_error(error, json_output=state.json_output, debug=state.debug))
    if state.json_output:
        event(stopped)
    elif stopped.handed_over:
        cut = "" if stopped.drained else f" (a stage still running after --grace {grace:g} s was cut: it runs again there)"
        render.line(state.err, f"stopped; left pending for the next worker: {', '.join(stopped.handed_over)}{cut}")
    else:
        render.line(state.err, "stopped")
    if launched():
        _end_now(0)


def _end_now(code: int) -> NoReturn:
    """End the process without waiting for DBOS's executor threads: the interpreter would join
    them at exit, and they never return (parked at a step boundary by the drain, or still inside
    a stage that was cut, which may take an hour). Their runs stay pending, as after a crash."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextmanager
def _stopped_by_signals(stop: threading.Event, halt: threading.Event) -> Iterator[None]:
    """The first SIGTERM or SIGINT sets `stop` (the worker drains), the next one `halt` (it stops
    draining), instead of raising in the middle of DBOS's calls."""

    def handle(*_: Any) -> None:
        (halt if stop.is_set() else stop).set()

    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.signal(number, handle) for number in handled}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def build() -> typer.Typer:
    app = typer.Typer(help="Run long-lived workers of a backend.", no_args_is_help=True)
    app.command("dbos")(worker_dbos)
    return app
