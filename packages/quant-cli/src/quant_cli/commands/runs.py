"""`quant runs list | show | resume | cancel`, and `quant run URI`."""

from __future__ import annotations

import dataclasses
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
    RayAddressOption,
    TaskRunnerOption,
    WorkersOption,
    executor_options,
)
from quant_cli.output import emit
from quant_cli.report import finished_run_document
from quant_cli.running import planned_total, run_with_progress
from quant_cli.state import get_state

RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="Run id (see `quant runs list`).")]


def list_runs(
    ctx: typer.Context,
    include_sleeves: Annotated[
        bool, typer.Option("--all", help="Include the sleeve runs of meta pipelines.")
    ] = False,
    dbos_database_url: DbosDatabaseUrlOption = None,
) -> None:
    """List recorded runs, newest first (DBOS runs with their workflow's state)."""
    state = get_state(ctx)
    scan = state.sdk().scan_runs()
    manifests = [m for m in scan.manifests if include_sleeves or m.parent_run_id is None]
    summaries = [documents.manifest_summary(m) for m in manifests]
    dbos_hook.add_run_states(state, summaries, manifests, dbos_database_url)
    document = {"runs": summaries, "damaged": [problem.to_json() for problem in scan.damaged]}
    emit(state, document, draw_run_list)


def draw_run_list(console: Console, document: dict[str, Any]) -> None:
    render.run_list(console, document)
    draw_damaged(console, document["damaged"], "run")


def show_run(ctx: typer.Context, run_id: RunArgument, dbos_database_url: DbosDatabaseUrlOption = None) -> None:
    """Show a run's manifest and its ledger (one line per stage attempt), with its sleeves'
    (and DBOS's state of its workflow, for a DBOS run)."""
    state = get_state(ctx)
    document = documents.run_record_document(state.sdk(), run_id)
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
    accept_version_change: dbos_hook.AcceptVersionChangeOption = False,
) -> None:
    """Run a recorded run again as it was started: finished steps come from the cache, so a
    failed run continues at the step that failed. A DBOS run goes on where its workflow stopped."""
    state = get_state(ctx)
    sdk = state.sdk()
    manifest, plan = sdk.resume_plan(run_id)
    total = planned_total(sdk.registry, plan)
    options = executor_options(None, ray_address, task_runner, dbos_database_url)

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
) -> None:
    """Run the stage or pipeline a quant:// URI names."""
    state = get_state(ctx)
    sdk = state.sdk()
    parsed = parse_uri(uri)
    chosen = validate_run_id(parsed.run_id) if parsed.run_id else new_run_id(parsed.target)
    parsed = dataclasses.replace(parsed, run_id=chosen)
    options: dict[str, object] = {
        "force": force,
        "executor_options": executor_options(workers, ray_address, task_runner, dbos_database_url),
    }
    if executor is not None:
        options["executor"] = executor
    if parsed.kind == "pipeline":
        plan = sdk.plan_pipeline(parsed.target, params=parsed.params, run_id=chosen, profile=parsed.profile)
        options.setdefault("executor", parsed.executor)  # None: the configured executor
        result = run_with_progress(
            state, chosen, lambda: sdk.run_planned(plan, **options), title=f"pipeline {parsed.target}",
            total=planned_total(sdk.registry, plan),
        )
    else:
        result = run_with_progress(
            state, chosen, lambda: sdk.run_uri(parsed, **options), title=f"stage {parsed.target}", total=1
        )
    emit(state, finished_run_document(sdk, result), render.run_result)


def build() -> typer.Typer:
    app = typer.Typer(help="Inspect and resume recorded runs.", no_args_is_help=True)
    app.command("list")(list_runs)
    app.command("show")(show_run)
    app.command("resume")(resume_run)
    app.command("cancel")(dbos_hook.cancel_run)
    return app


def register(app: typer.Typer) -> None:
    app.command("run")(run_uri)
