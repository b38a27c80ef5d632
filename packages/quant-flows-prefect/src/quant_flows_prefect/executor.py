"""The `prefect` executor: every run is a Prefect flow run of a flow generated from its plan.

    quant pipeline run portfolio.full --profile demo_equities --executor prefect
    quant pipeline run meta.full --profile demo --executor prefect --task-runner ray [--ray-address ADDR]
    QuantSDK().run_pipeline("meta.full", profile="demo", executor="prefect", executor_options={"task_runner": "ray"})

Flows talk to the Prefect API given as `prefect_api_url` (`--prefect-api-url`, or
`[executor.prefect] api_url` in quant.toml: `QuantSDK(config=...)` needs no environment variable),
else to `PREFECT_API_URL`, else to Prefect's ephemeral server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import Flow, tags
from quant_core.context import RunContext, context_from_data
from quant_core.execution import Runtime
from quant_core.executors.base import map_each
from quant_core.pipeline import PipelineSpec

from quant_flows_prefect.api import check_api_url, prefect_api
from quant_flows_prefect.attempts import EXECUTOR_NAME
from quant_flows_prefect.driver import RunTarget, pipeline_target, stage_target
from quant_flows_prefect.flows import planned_flow, run_tags
from quant_flows_prefect.runners import check_task_runner, ensure_ray


class PrefectExecutor:
    name = EXECUTOR_NAME

    def __init__(
        self,
        runtime: Runtime,
        *,
        task_runner: str = "thread",
        ray_address: str | None = None,
        prefect_api_url: str | None = None,
    ) -> None:
        check_task_runner(task_runner, ray_address)
        self.runtime = runtime
        self.task_runner = task_runner
        self.ray_address = ray_address
        self.prefect_api_url = check_api_url(prefect_api_url)

    def run_pipeline(
        self, spec: PipelineSpec, context: RunContext, params: Mapping[str, Mapping[str, Any]]
    ) -> RunContext:
        return self._run(pipeline_target(self.runtime, spec), context, params)

    def map(
        self, stage_id: str, contexts: Sequence[RunContext], params: Mapping[str, Any]
    ) -> list[RunContext]:
        run = stage_target(stage_id, params)
        return map_each(stage_id, contexts, lambda context: self._run(run, context, {stage_id: dict(params)}))

    def flow(self, run: RunTarget) -> Flow[..., Any]:
        return planned_flow(self.runtime, run, task_runner=self.task_runner, ray_address=self.ray_address)

    def _run(self, run: RunTarget, context: RunContext, params: Mapping[str, Mapping[str, Any]]) -> RunContext:
        if self.task_runner == "ray":
            ensure_ray(self.ray_address)  # before a flow run exists: a wrong address creates none
        flow = self.flow(run)
        with prefect_api(self.prefect_api_url), tags(*run_tags(run.kind, run.target, context.profile)):
            output = flow(
                context=context.model_dump(mode="json"),
                stage_params={stage_id: dict(p) for stage_id, p in params.items()},
            )
        return context_from_data(output)


def factory(
    runtime: Runtime,
    *,
    task_runner: str = "thread",
    ray_address: str | None = None,
    prefect_api_url: str | None = None,
) -> PrefectExecutor:
    """Entry point of `quant.executors`: `prefect`."""
    return PrefectExecutor(runtime, task_runner=task_runner, ray_address=ray_address, prefect_api_url=prefect_api_url)
