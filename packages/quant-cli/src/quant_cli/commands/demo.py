"""`quant demo`: the whole meta pipeline on the demo profile, its summary and its HTML report."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from quant_cli import render
from quant_cli.commands.pipeline import start_pipeline
from quant_cli.options import (
    DbosDatabaseUrlOption,
    ExecutorOption,
    ForceOption,
    PrefectApiUrlOption,
    RayAddressOption,
    RunIdOption,
    TaskRunnerOption,
    WorkersOption,
    executor_options,
)
from quant_cli.output import emit
from quant_cli.report import finished_run_document
from quant_cli.results_view import draw_results
from quant_cli.state import get_state

DEMO_PIPELINE = "meta.full"
DEMO_PROFILE = "demo"


def demo(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Option("--pipeline", metavar="ID", help="Pipeline to run.")] = DEMO_PIPELINE,
    profile: Annotated[str, typer.Option("--profile", metavar="NAME", help="Meta profile to run it with.")] = DEMO_PROFILE,
    run_id: RunIdOption = None,
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    force: ForceOption = False,
    ray_address: RayAddressOption = None,
    task_runner: TaskRunnerOption = None,
    dbos_database_url: DbosDatabaseUrlOption = None,
    prefect_api_url: PrefectApiUrlOption = None,
) -> None:
    """Run the demo: every sleeve's portfolio pipeline, then the meta-portfolio and its report.
    A second run is served from the cache."""
    state = get_state(ctx)
    sdk = state.sdk()
    result = start_pipeline(
        state, sdk, pipeline, profile=profile, params={}, run_id=run_id, executor=executor, force=force,
        options=executor_options(workers, ray_address, task_runner, dbos_database_url, prefect_api_url=prefect_api_url),
    )
    document = finished_run_document(sdk, result)
    emit(state, document, draw_demo)


def draw_demo(console: Console, document: dict[str, Any]) -> None:
    render.run_summary(console, document)
    render.run_footer(console, document)  # names the report when there is one
    if not document["report_path"]:
        render.line(console, "report: none (the pipeline made no HTML report)")
    draw_results(console, document["results"])


def build() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command("demo")(demo)
    return app
