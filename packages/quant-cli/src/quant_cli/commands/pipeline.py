"""`quant pipeline list | show | run`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from quant_core.records import new_run_id, validate_run_id
from quant_core.sdk import QuantSDK, RunResult

from quant_cli import documents, render
from quant_cli.options import (
    DbosDatabaseUrlOption,
    ExecutorOption,
    ForceOption,
    ParamOption,
    PrefectApiUrlOption,
    ProfileOption,
    RayAddressOption,
    RunIdOption,
    TaskRunnerOption,
    WorkersOption,
    executor_options,
)
from quant_cli.output import emit
from quant_cli.report import finished_run_document
from quant_cli.params import parse_params
from quant_cli.running import planned_total, run_with_progress
from quant_cli.state import CliState, get_state

PipelineArgument = Annotated[str, typer.Argument(metavar="ID", help="Pipeline id, e.g. meta.full.")]


def list_pipelines(ctx: typer.Context) -> None:
    """List the installed pipelines."""
    state = get_state(ctx)
    registry = state.sdk().registry
    summaries = [documents.pipeline_summary(registry, p) for p in registry.list_pipelines()]
    emit(state, {"pipelines": summaries}, render.pipeline_list)


def show_pipeline(ctx: typer.Context, pipeline_id: PipelineArgument) -> None:
    """Show a pipeline's steps (includes expanded; a fan-out with its branch's stages)."""
    state = get_state(ctx)
    registry = state.sdk().registry
    emit(state, documents.pipeline_document(registry, registry.get_pipeline(pipeline_id)), render.pipeline_show)


def start_pipeline(
    state: CliState,
    sdk: QuantSDK,
    pipeline_id: str,
    *,
    profile: str | None,
    params: dict[str, str],
    run_id: str | None,
    executor: str | None,
    force: bool,
    options: dict[str, Any],
) -> RunResult:
    """Plan (every parameter checked before anything runs), then run with progress."""
    chosen = validate_run_id(run_id) if run_id else new_run_id(pipeline_id)
    plan = sdk.plan_pipeline(pipeline_id, params=params, run_id=chosen, profile=profile)
    return run_with_progress(
        state, chosen,
        lambda: sdk.run_planned(plan, executor, force=force, executor_options=options),
        title=f"pipeline {pipeline_id}", total=planned_total(sdk.registry, plan),
    )


def run_pipeline(
    ctx: typer.Context,
    pipeline_id: PipelineArgument,
    profile: ProfileOption = None,
    run_id: RunIdOption = None,
    param: ParamOption = None,
    executor: ExecutorOption = None,
    force: ForceOption = False,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    task_runner: TaskRunnerOption = None,
    dbos_database_url: DbosDatabaseUrlOption = None,
    prefect_api_url: PrefectApiUrlOption = None,
) -> None:
    """Run a pipeline. --param stage.id.name=value sets one step's parameter; a bare
    name=value sets it on every step that declares it (an error if none does)."""
    state = get_state(ctx)
    sdk = state.sdk()
    result = start_pipeline(
        state, sdk, pipeline_id, profile=profile, params=parse_params(param), run_id=run_id,
        executor=executor, force=force,
        options=executor_options(workers, ray_address, task_runner, dbos_database_url, prefect_api_url=prefect_api_url),
    )
    emit(state, finished_run_document(sdk, result), render.run_result)


def build() -> typer.Typer:
    app = typer.Typer(help="Inspect and run pipelines.", no_args_is_help=True, add_completion=False)
    app.command("list")(list_pipelines)
    app.command("show")(show_pipeline)
    app.command("run")(run_pipeline)
    return app
