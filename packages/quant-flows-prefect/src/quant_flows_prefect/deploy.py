"""Deployments: a pipeline's generated flow served by this process (Prefect's `serve`).

    quant deploy prefect portfolio.full --profile demo_equities --name nightly --cron "0 6 * * 1-5"
    prefect deployment run 'portfolio.full/nightly' --param profile=demo_crypto

The deployment's parameters are the flow's typed ones (`profile`, `params`, `run_id`), with the
given profile and params as defaults; every run the runner starts is a quant run in the SDK's
home, its run id the flow run's name. Runs execute in subprocesses of this one (Prefect's runner
pickles the flow), so the served process must see the same quant home and Prefect API.

With a metrics port, the process serves Prometheus `/metrics` for as long as it serves the
deployment: the runs of this deployment (and their sleeves), counted from their run records at
each scrape, with the metric names of every quant process. Counting from the records, not from
counters in this process, is what sees the runs at all: they execute in the runner's
subprocesses. A ledger line is written at the end of each stage attempt, so a scrape during a
run shows the stages it has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from prefect.client.schemas.schedules import CronSchedule
from prefect.runner import Runner
from pydantic import ValidationError
from quant_core.errors import ParamValidationError
from quant_core.metrics import MetricsEndpoint, record_registry, serve
from quant_core.records import RunManifest
from quant_core.sdk import QuantSDK

from quant_flows_prefect.api import check_api_url, prefect_api
from quant_flows_prefect.flows import build_flow, run_tags
from quant_flows_prefect.runners import check_task_runner


@dataclass(frozen=True)
class ServedDeployment:
    """What `serve_pipeline` registered, for the caller to show before it blocks."""

    deployment_id: str
    flow: str
    name: str
    profile: str | None
    params: dict[str, Any]
    cron: str | None
    tags: list[str]
    api_url: str
    task_runner: str
    #: Where this process serves /metrics (None: not served).
    metrics_url: str | None = None

    @property
    def full_name(self) -> str:
        """How `prefect deployment run` names it."""
        return f"{self.flow}/{self.name}"

    def document(self) -> dict[str, Any]:
        return {**asdict(self), "full_name": self.full_name}


def serve_pipeline(
    sdk: QuantSDK,
    pipeline_id: str,
    *,
    name: str,
    profile: str | None = None,
    params: Mapping[str, Any] | None = None,
    cron: str | None = None,
    task_runner: str = "thread",
    ray_address: str | None = None,
    api_url: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    on_ready: Callable[[ServedDeployment], None] | None = None,
) -> None:
    """Check everything a run would (pipeline, profile, params, schedule), serve /metrics on
    `metrics_port` (0: a free port; None: no metrics), register the deployment on the Prefect
    API (`api_url`, else PREFECT_API_URL, else an ephemeral server), call `on_ready` with it,
    then serve its runs until interrupted."""
    params = dict(params or {})
    check_task_runner(task_runner, ray_address)
    check_api_url(api_url)
    _check_name(name)
    _check_cron(cron)
    sdk.plan_pipeline(pipeline_id, params=params, profile=profile)  # raises what a run would
    flow = build_flow(pipeline_id, sdk=sdk, task_runner=task_runner, ray_address=ray_address)
    labels = run_tags("pipeline", pipeline_id, profile)
    # The port is taken before the deployment is registered: a busy one registers nothing.
    served: set[str] = set()
    endpoint = _serve_metrics(sdk, served, metrics_port, metrics_host)
    try:
        with prefect_api(api_url) as used_api_url:
            runner = Runner(name=f"quant {pipeline_id} {name}")
            deployment_id = runner.add_flow(
                flow, name=name, cron=cron, parameters={"profile": profile, "params": params},
                tags=labels, description=flow.description,
            )
            served.add(str(deployment_id))
            if on_ready is not None:
                on_ready(
                    ServedDeployment(
                        deployment_id=str(deployment_id), flow=flow.name, name=name, profile=profile,
                        params=params, cron=cron, tags=labels, api_url=used_api_url, task_runner=task_runner,
                        metrics_url=endpoint.url if endpoint is not None else None,
                    )
                )
            try:
                asyncio.run(runner.start())
            except KeyboardInterrupt:  # Ctrl-C is how a served deployment is meant to stop
                pass
    finally:
        if endpoint is not None:
            endpoint.shutdown()


def _serve_metrics(sdk: QuantSDK, deployments: set[str], port: int | None, host: str) -> MetricsEndpoint | None:
    """/metrics of the runs of `deployments` (filled in once registered) recorded in the home."""
    if port is None:
        return None

    def of_these_deployments(manifest: RunManifest) -> bool:
        return manifest.engine.get("deployment_id") in deployments

    return serve(record_registry(sdk.home.runs_dir, of_these_deployments), port, host, option="--metrics-port")


def _check_name(name: str) -> None:
    if not name or "/" in name or name != name.strip():
        raise ParamValidationError(
            f"deployment name {name!r}: give a non-empty name without '/' or surrounding spaces "
            f"(it is run as '<pipeline>/{name}')",
            param="name", value=name, rule="deployment-name",
        )


def _check_cron(cron: str | None) -> None:
    if cron is None:
        return
    try:
        CronSchedule(cron=cron)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise ParamValidationError(
            f"--cron {cron!r} is not a cron expression ({reason}); e.g. '0 6 * * 1-5' for 06:00 on weekdays",
            param="cron", value=cron, rule="cron",
        ) from None
