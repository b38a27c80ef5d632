"""Prefect flows generated from pipeline specs: no flow is written by hand for a pipeline.

- `build_flow(pipeline_id)`: the flow a user runs, schedules or deploys. Its typed parameters
  are the ones of `quant pipeline run`: `profile`, `params` (overrides, `{"stage.id.name": v}`
  or `{"stage.id": {...}}`) and an optional `run_id`. It plans the run with the SDK (every
  parameter checked before anything runs), then drives it.
- `planned_flow(...)`: what the `prefect` executor runs for a plan the SDK already made (a
  resumed run, a subset of steps, a given start context): parameters `context` and
  `stage_params`.

Both name the flow after the pipeline, the flow run after the quant run id, one task per stage
after the stage id; both tag the flow run (not its task runs) `quant`, `pipeline:<id>` (or
`stage:<id>`) and `profile:<name>`, and write the flow run's id and API URL into the run's
manifest (`engine`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from prefect import Flow
from prefect.context import FlowRunContext, TagsContext
from prefect.settings import PREFECT_API_URL
from prefect.utilities.urls import url_for
from prefect_ray import RayTaskRunner
from pydantic import JsonValue
from quant_core.context import RunContext, context_from_data
from quant_core.execution import Runtime
from quant_core.records import new_run_id
from quant_core.sdk import QuantSDK

from quant_flows_prefect.attempts import EXECUTOR_NAME
from quant_flows_prefect.driver import FlowDriver, RunTarget, pipeline_target
from quant_flows_prefect.runners import make_task_runner

#: Tags quant puts on its flow runs; one of each prefix, replaced when a deployment's run
#: is started with another profile than the deployment's default.
QUANT_TAG = "quant"
TAG_PREFIXES = ("pipeline:", "stage:", "profile:")


def run_tags(kind: str, target: str, profile: str | None) -> list[str]:
    found = [QUANT_TAG, f"{'stage' if kind == 'stage' else 'pipeline'}:{target}"]
    if profile:
        found.append(f"profile:{profile}")
    return found


def planned_flow(
    runtime: Runtime, run: RunTarget, *, task_runner: str = "thread", ray_address: str | None = None
) -> Flow[..., Any]:
    """The flow of one planned run: `flow(context=<JSON>, stage_params={...})` gives the final
    context as JSON."""

    def run_planned(context: dict[str, Any], stage_params: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return _drive(runtime, run, context_from_data(context), stage_params)

    return _flow(
        run_planned, name=run.target, description=f"quant {run.kind} {run.target}",
        run_name=lambda parameters: parameters["context"]["run_id"],
        task_runner=task_runner, ray_address=ray_address,
    )


def build_flow(
    pipeline_id: str,
    *,
    sdk: QuantSDK | None = None,
    task_runner: str = "thread",
    ray_address: str | None = None,
) -> Flow[..., Any]:
    """The Prefect flow of a registered pipeline. `sdk` gives the quant home, registry and
    profiles (default: `QuantSDK()`, from `QUANT_HOME` or ./.quant, resolved now); the flow
    pickles with it, so `serve` can run it in a subprocess."""
    sdk = sdk if sdk is not None else QuantSDK()
    spec = sdk.registry.get_pipeline(pipeline_id)

    def run_pipeline(
        profile: str | None = None,
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        # The flow run is named after the run id (generated when not given), so that is its id.
        chosen = run_id or _flow_run().name
        plan = sdk.plan_pipeline(pipeline_id, params=params, run_id=chosen, profile=profile)
        runtime = sdk.runtime()
        return _drive(runtime, pipeline_target(runtime, plan.spec), plan.context, plan.stage_params)

    return _flow(
        run_pipeline, name=pipeline_id, description=spec.description or f"quant pipeline {pipeline_id}",
        run_name=lambda parameters: parameters.get("run_id") or new_run_id(pipeline_id),
        task_runner=task_runner, ray_address=ray_address,
    )


def _flow(
    fn: Callable[..., dict[str, Any]],
    *,
    name: str,
    description: str,
    run_name: Callable[[Mapping[str, Any]], str],
    task_runner: str,
    ray_address: str | None,
) -> Flow[..., Any]:
    return Flow(
        fn=fn, name=name, description=description,
        flow_run_name=lambda: run_name(_flow_run_context().parameters),
        task_runner=make_task_runner(task_runner, ray_address),
        # The final context goes back to the caller in-process; nothing to persist.
        persist_result=False,
    )


def _drive(
    runtime: Runtime,
    run: RunTarget,
    context: RunContext,
    stage_params: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    labels = run_tags(run.kind, run.target, context.profile)
    _tag_flow_run(labels)
    # The task runner the flow run really has (a user may swap it with `flow.with_options`).
    on_ray = isinstance(_flow_run_context().task_runner, RayTaskRunner)
    driver = FlowDriver(runtime, engine=flow_run_link("ray" if on_ray else "thread"), on_ray=on_ray)
    # The tags are the flow run's, not its task runs': Prefect asks the server for tag
    # concurrency slots before every tagged task run, an API call per stage that concurrent
    # sleeves queue on (8 toy sleeves: 15.5 s with tagged task runs, see docs/design.md).
    with TagsContext(current_tags=set()):
        return driver.run(run, context, stage_params).model_dump(mode="json")


def flow_run_link(task_runner: str) -> dict[str, JsonValue]:
    """The current flow run as the quant manifest records it (`RunManifest.engine`)."""
    context = _flow_run_context()
    flow_run = context.flow_run
    assert flow_run is not None
    link: dict[str, JsonValue] = {
        "name": EXECUTOR_NAME,
        "flow": context.flow.name if context.flow else None,
        "flow_run_id": str(flow_run.id),
        "flow_run_name": flow_run.name,
        "api_url": PREFECT_API_URL.value(),
        "task_runner": task_runner,
    }
    if flow_run.deployment_id is not None:
        link["deployment_id"] = str(flow_run.deployment_id)
    ui_url = url_for(flow_run)
    if ui_url:
        link["ui_url"] = ui_url
    return link


def _tag_flow_run(labels: list[str]) -> None:
    """Make the flow run's tags name its pipeline and profile (a deployment's run has the
    deployment's tags, which name its default profile)."""
    flow_run = _flow_run()
    kept = {t for t in flow_run.tags if not t.startswith(TAG_PREFIXES)}
    wanted = kept | set(labels)
    if wanted != set(flow_run.tags):
        _flow_run_context().client.update_flow_run(flow_run.id, tags=sorted(wanted))
        flow_run.tags = sorted(wanted)


def _flow_run_context() -> FlowRunContext:
    context = FlowRunContext.get()
    if context is None:
        raise RuntimeError("quant_flows_prefect: called outside a Prefect flow run")
    return context


def _flow_run() -> Any:
    flow_run = _flow_run_context().flow_run
    assert flow_run is not None
    return flow_run
