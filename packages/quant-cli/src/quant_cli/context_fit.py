"""When `--from-run` names a run whose context a stage cannot take, name the runs that would fit.

A meta run ends in a meta context; its sleeves' selection contexts are in the sleeve runs
(`<meta run>.<sleeve>`). A selection stage given the meta run is told those ids; a meta stage
given a selection run is told its parent meta run, or the latest meta runs.
"""

from __future__ import annotations

from quant_core.context import MetaContext, RunContext
from quant_core.errors import ContextKindError
from quant_core.sdk import QuantSDK

from quant_cli.run_ids import short_id

#: How many meta runs to suggest when the source run has no parent.
SUGGESTED_META_RUNS = 3


def runs_that_fit(sdk: QuantSDK, context: RunContext, wanted_kind: str) -> tuple[str, list[str]]:
    """(why, run ids) for a stage that takes a `wanted_kind` context and was given `context`."""
    if isinstance(context, MetaContext) and wanted_kind != "meta":
        results = sdk.expanded(context).sleeve_results  # type: ignore[attr-defined]
        sleeves = [r.run_id for r in results if r.status == "succeeded"]
        return f"run {context.run_id} is a meta run; its sleeves' runs hold {wanted_kind} contexts", sleeves
    if wanted_kind == "meta":
        record = sdk.record(context.run_id)
        parent = record.read_manifest().parent_run_id if record.exists() else None
        if parent:
            return f"run {context.run_id} is a sleeve of the meta run {parent}", [parent]
        manifests = sdk.scan_runs().manifests  # a damaged run elsewhere is no reason to suggest none
        parents = {m.parent_run_id for m in manifests if m.parent_run_id}
        latest = [m.run_id for m in manifests if m.run_id in parents][:SUGGESTED_META_RUNS]
        return "meta runs (the latest)", latest
    return "", []


def with_fitting_runs(sdk: QuantSDK, error: ContextKindError, context: RunContext, wanted_kind: str) -> ContextKindError:
    """`error` with the runs whose context the stage takes, and the option that uses one."""
    why, fitting = runs_that_fit(sdk, context, wanted_kind)
    if not fitting:
        return error
    message = f"{error.message}. {why[0].upper()}{why[1:]}: {', '.join(fitting)} (e.g. --from-run {short_id(fitting[0])})"
    return ContextKindError(message, param=error.param, value=error.value, rule=error.rule, stage_id=error.stage_id)
