"""`quant runs list | show | resume | cancel`, and `quant run URI`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from quant_core.records import new_run_id, validate_run_id
from quant_core.sdk import RunResult
from quant_core.uri import parse_uri
from rich.console import Console

from quant_cli import dbos_hook, documents, render
from quant_cli.damaged import draw_damaged
from quant_cli.options import (
    DbosDatabaseUrlOption,
    ForceOption,
    PrefectApiUrlOption,
    RayAddressOption,
    TaskRunnerOption,
    WorkersOption,
    executor_options,
)
from quant_cli.output import emit
from quant_cli.report import finished_run_document
from quant_cli.run_ids import resolve_run_id
from quant_cli.running import planned_total, run_with_progress
from quant_cli.stage_run import start_stage
from quant_cli.state import get_state

RunArgument = Annotated[
    str, typer.Argument(metavar="RUN", help="Run id, or a unique prefix or short id of one (see `quant runs list`)."),
]


def list_runs(
    ctx: typer.Context,
    include_sleeves: Annotated[
        bool, typer.Option("--all", help="Also list each meta run's sleeve runs, under it.")
    ] = False,
    dbos_database_url: DbosDatabaseUrlOption = None,
) -> None:
    """List recorded runs, newest first (a meta run's sleeve runs are counted, and listed with
    --all; DBOS runs with their workflow's state)."""
    state = get_state(ctx)
    scan = state.sdk().scan_runs()
    summaries = documents.run_listing(scan.manifests, include_sleeves)
    listed = {summary["run_id"] for summary in summaries}
    dbos_hook.add_run_states(state, summaries, [m for m in scan.manifests if m.run_id in listed], dbos_database_url)
    document = {"runs": summaries, "damaged": [problem.to_json() for problem in scan.damaged]}
    emit(state, document, draw_run_list)


def draw_run_list(console: Console, document: dict[str, Any]) -> None:
    render.run_list(console, document)
    draw_damaged(console, document["damaged"], "run")


def show_run(ctx: typer.Context, run_id: RunArgument, dbos_database_url: DbosDatabaseUrlOption = None) -> None:
    """Show a run: its manifest, its ledger (one line per stage attempt) and its sleeves' (with
    DBOS's state of its workflow, for a DBOS run), then its results."""
    state = get_state(ctx)
    sdk = state.sdk()
    document = documents.run_record_document(sdk, resolve_run_id(sdk, run_id))
    dbos_hook.add_show_state(state, document, dbos_database_url)
    emit(state, document, draw_run_show)


def draw_run_show(console: Console, document: dict[str, Any]) -> None:
    render.run_show(console, document)
    draw_damaged(console, document["damaged"], "record file or line")


def resume_run(
    ctx: typer.Context,
    run_id: RunArgument,
    executor: Annotated[
        str | None, typer.Option("--executor", metavar="NAME", help="Executor (default: the one it ran on).")
    ] = None,
    force: ForceOption = False,
    ray_address: RayAddressOption = None,
    task_runner: TaskRunnerOption = None,
    dbos_database_url: DbosDatabaseUrlOption = None,
    prefect_api_url: PrefectApiUrlOption = None,
    accept_version_change: dbos_hook.AcceptVersionChangeOption = False,
) -> None:
    """Run a recorded run again as it was started: finished steps come from the cache, so a
    failed run continues at the step that failed. A DBOS run goes on where its workflow stopped."""
    state = get_state(ctx)
    sdk = state.sdk()
    run_id = resolve_run_id(sdk, run_id)
    manifest, plan = sdk.resume_plan(run_id)
    total = planned_total(sdk.registry, plan)
    options = executor_options(None, ray_address, task_runner, dbos_database_url, prefect_api_url=prefect_api_url)

    def resume(accept: bool) -> RunResult:
        accepted = {"accept_version_change": True} if accept else {}
        return run_with_progress(
            state, run_id, lambda: sdk.resume(run_id, executor=executor, force=force, executor_options=options | accepted),
            title=f"resume {manifest.kind} {manifest.target}", total=total,
        )

    try:
        result = resume(accept_version_change)
    except Exception as error:
        if accept_version_change or not dbos_hook.offers_version_change(state, error):
            raise
        result = resume(True)
    emit(state, finished_run_document(sdk, result), render.run_result)


def run_uri(
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(
            metavar="URI",
            help="quant://<namespace>/<name>?profile=..&<param>=.. (a stage) or quant://pipeline/<id>?.. (a pipeline).",
        ),
    ],
    executor: Annotated[
        str | None, typer.Option("--executor", metavar="NAME", help="Executor (overrides the URI's executor=).")
    ] = None,
    force: ForceOption = False,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    task_runner: TaskRunnerOption = None,
    dbos_database_url: DbosDatabaseUrlOption = None,
    prefect_api_url: PrefectApiUrlOption = None,
) -> None:
    """Run the stage or pipeline a quant:// URI names. A stage runs after the steps before it in
    its pipeline (from the cache when they can be)."""
    state = get_state(ctx)
    sdk = state.sdk()
    parsed = parse_uri(uri)
    chosen = validate_run_id(parsed.run_id) if parsed.run_id else new_run_id(parsed.target)
    chosen_executor = executor or parsed.executor  # None: the configured executor
    options = executor_options(workers, ray_address, task_runner, dbos_database_url, prefect_api_url=prefect_api_url)
    upstream = None
    if parsed.kind == "pipeline":
        plan = sdk.plan_pipeline(parsed.target, params=parsed.params, run_id=chosen, profile=parsed.profile)
        result = run_with_progress(
            state, chosen, lambda: sdk.run_planned(plan, chosen_executor, force=force, executor_options=options),
            title=f"pipeline {parsed.target}", total=planned_total(sdk.registry, plan),
        )
    else:
        result, upstream = start_stage(
            state, sdk, parsed.target, run_id=chosen, from_run=None, profile=parsed.profile, params=parsed.params,
            executor=chosen_executor, force=force, options=options,
        )
    emit(state, finished_run_document(sdk, result, upstream), render.run_result)


def build() -> typer.Typer:
    app = typer.Typer(help="Inspect and resume recorded runs.", no_args_is_help=True, add_completion=False)
    app.command("list")(list_runs)
    app.command("show")(show_run)
    app.command("resume")(resume_run)
    app.command("cancel")(dbos_hook.cancel_run)
    return app


def build_run() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command("run")(run_uri)
    return app
