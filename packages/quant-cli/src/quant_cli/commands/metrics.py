"""`quant serve-metrics`: Prometheus `/metrics` for everything recorded under this QUANT_HOME.

A long-running exporter beside short CLI runs: each scrape counts the run records (ledger lines
and manifests), so every run on every executor that wrote its record here is in the figures,
with the same metric names a long-running worker exposes live."""

from __future__ import annotations

import threading
from typing import Annotated

import typer
from quant_core.telemetry import metrics_module

from quant_cli import render
from quant_cli.jsonout import write_json
from quant_cli.state import get_state


def serve_metrics(
    ctx: typer.Context,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, metavar="PORT", help="Port to listen on (default: telemetry.metrics_port, 9464; 0 picks a free one)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", metavar="ADDR", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve /metrics (Prometheus) counted from the run records under the home, until interrupted."""
    state = get_state(ctx)
    metrics = metrics_module()
    chosen = state.config().settings.telemetry.metrics_port if port is None else port
    home = state.home
    endpoint = metrics.serve(metrics.record_registry(home.runs_dir), chosen, host)
    if state.json_output:
        write_json({"url": endpoint.url, "home": str(home.root)})
    else:
        render.line(state.out, f"serving {endpoint.url} (runs recorded under {home.root}); Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.shutdown()


def build() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command("serve-metrics")(serve_metrics)
    return app
