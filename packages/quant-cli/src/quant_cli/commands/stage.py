"""`quant stage list | schema | run`.

`quant stage list` must start fast (BENCHMARKS.md: at most 0.4 s), so what only `run` needs (the
run machinery, its progress display and Rich's live rendering) is imported inside `run_stage`.
"""

from __future__ import annotations

from typing import Annotated

import typer

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
    executor_options,
)
from quant_cli.output import emit
from quant_cli.params import parse_params, strip_stage_prefix
from quant_cli.state import get_state


def list_stages(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Option("--tag", help="Only stages with this tag.")] = None,
) -> None:
    """List the installed stages."""
    state = get_state(ctx)
    specs = state.sdk().registry.list_stages(tag=tag)
    emit(state, {"stages": [documents.stage_summary(s) for s in specs]}, render.stage_list)


def stage_schema(
    ctx: typer.Context,
    stage_id: Annotated[str, typer.Argument(metavar="ID", help="Stage id, e.g. selection.clustering.")],
) -> None:
    """Describe a stage as JSON: id, version, input_schema (its parameters) and output_schema."""
    state = get_state(ctx)
    description = state.sdk().registry.get(stage_id).describe()
    emit(state, description, lambda console, doc: console.print_json(data=doc))


def run_stage(
    ctx: typer.Context,
    stage_id: Annotated[str, typer.Argument(metavar="ID", help="Stage id, e.g. selection.clustering.")],
    run_id: RunIdOption = None,
    profile: ProfileOption = None,
    param: ParamOption = None,
    from_run: Annotated[
        str | None,
        typer.Option(
            "--from-run", metavar="RUN",
            help="Start from the last context of an earlier run (re-run one stage on its data). "
            "Without it, the steps before the stage in its pipeline run first (from the cache when they can).",
        ),
    ] = None,
    executor: ExecutorOption = None,
    force: ForceOption = False,
    ray_address: RayAddressOption = None,
    task_runner: TaskRunnerOption = None,
    dbos_database_url: DbosDatabaseUrlOption = None,
    prefect_api_url: PrefectApiUrlOption = None,
) -> None:
    """Run one stage as its own run (name=value or ID.name=value parameters): on an earlier
    run's data with --from-run, else after the steps before it in its pipeline."""
    from quant_core.records import new_run_id, validate_run_id

    from quant_cli.report import finished_run_document
    from quant_cli.stage_run import start_stage

    state = get_state(ctx)
    sdk = state.sdk()
    spec = sdk.registry.get(stage_id)
    result, upstream = start_stage(
        state, sdk, spec.id, run_id=validate_run_id(run_id) if run_id else new_run_id(spec.id), from_run=from_run,
        profile=profile, params=strip_stage_prefix(parse_params(param), spec.id), executor=executor, force=force,
        options=executor_options(None, ray_address, task_runner, dbos_database_url, prefect_api_url=prefect_api_url),
    )
    emit(state, finished_run_document(sdk, result, upstream), render.run_result)


def build() -> typer.Typer:
    app = typer.Typer(help="Inspect and run single stages.", no_args_is_help=True, add_completion=False)
    app.command("list")(list_stages)
    app.command("schema")(stage_schema)
    app.command("run")(run_stage)
    return app
