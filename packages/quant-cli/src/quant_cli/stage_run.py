"""One stage as a run (`quant stage run`, `quant run quant://<ns>/<name>`): on an earlier run's
context (`--from-run`), else after the steps it needs (`upstream.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quant_core.errors import ContextKindError
from quant_core.sdk import QuantSDK, RunResult

from quant_cli.context_fit import with_fitting_runs
from quant_cli.render import line
from quant_cli.run_ids import resolve_run_id
from quant_cli.running import planned_total, run_with_progress
from quant_cli.state import CliState
from quant_cli.upstream import Upstream, plan_with_upstream, upstream_of


def start_stage(
    state: CliState,
    sdk: QuantSDK,
    stage_id: str,
    *,
    run_id: str,
    from_run: str | None,
    profile: str | None,
    params: Mapping[str, Any],
    executor: str | None,
    force: bool,
    options: Mapping[str, Any],
) -> tuple[RunResult, Upstream | None]:
    """Run `stage_id` as run `run_id`, with progress; give the result and the upstream steps that
    ran before it (None when it started from `from_run` or needs nothing before it). `executor`
    None runs on the configured executor."""
    spec = sdk.registry.get(stage_id)
    if from_run is not None:
        context = sdk.last_context(resolve_run_id(sdk, from_run))

        def start() -> RunResult:
            try:
                return sdk.run_stage(
                    spec.id, context=context, params=params, run_id=run_id, profile=profile,
                    executor=executor, force=force, executor_options=options,
                )
            except ContextKindError as error:
                raise with_fitting_runs(sdk, error, context, spec.context_kind) from error

        return run_with_progress(state, run_id, start, title=f"stage {spec.id}", total=1), None

    upstream = upstream_of(sdk.registry, spec.id)
    if upstream is None:
        result = run_with_progress(
            state, run_id,
            lambda: sdk.run_stage(
                spec.id, params=params, run_id=run_id, profile=profile, executor=executor, force=force,
                executor_options=options,
            ),
            title=f"stage {spec.id}", total=1,
        )
        return result, None
    plan = plan_with_upstream(sdk, upstream, params=params, run_id=run_id, profile=profile)
    if not state.json_output:
        line(state.err, upstream.describe())
    result = run_with_progress(
        state, run_id, lambda: sdk.run_planned(plan, executor, force=force, executor_options=options),
        title=f"stage {spec.id}", total=planned_total(sdk.registry, plan),
    )
    return result, upstream
