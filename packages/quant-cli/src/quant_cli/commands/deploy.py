"""`quant deploy prefect PIPELINE --profile P --name N [--cron EXPR]`: serve a deployment.

The backend is imported only when the command runs, so the CLI needs nothing of Prefect unless
a deployment is asked for; without the package, the command says which one to install (exit 3).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from quant_core.errors import QuantError
from rich.console import Console

from quant_cli import render
from quant_cli.jsonout import write_json
from quant_cli.options import (
    MetricsHostOption,
    MetricsPortOption,
    ParamOption,
    PrefectApiUrlOption,
    ProfileOption,
    RayAddressOption,
    TaskRunnerOption,
)
from quant_cli.params import parse_params
from quant_cli.state import get_state

PREFECT_PACKAGE = "quant-flows-prefect"
#: The executor options a served deployment takes from the configuration.
DEPLOYMENT_OPTIONS = ("task_runner", "ray_address", "prefect_api_url")


class BackendNotInstalledError(QuantError):
    """A command needs a backend package that is not installed."""

    exit_code = 3


def deploy_prefect(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument(metavar="PIPELINE", help="Pipeline id, e.g. portfolio.full.")],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Deployment name (runs as PIPELINE/NAME).")],
    profile: ProfileOption = None,
    cron: Annotated[
        str | None, typer.Option("--cron", metavar="EXPR", help="Schedule, a cron expression (e.g. '0 6 * * 1-5').")
    ] = None,
    param: ParamOption = None,
    task_runner: TaskRunnerOption = None,
    ray_address: RayAddressOption = None,
    prefect_api_url: PrefectApiUrlOption = None,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = "127.0.0.1",
) -> None:
    """Serve a Prefect deployment of PIPELINE's generated flow until interrupted (Ctrl-C).

    Runs start from the schedule, the Prefect UI or `prefect deployment run PIPELINE/NAME`, with the
    typed parameters profile and params (defaults: --profile and --param); each is a quant run in
    this home, named by its flow run.

    Talks to --prefect-api-url (else PREFECT_API_URL, else quant.toml's executor.prefect.api_url, else an ephemeral server that lives as long as this command). Serves /metrics of the deployment's runs on --metrics-port."""
    state = get_state(ctx)
    config = state.config()
    # The deployment's own settings, as a run on the prefect executor would take them.
    configured = config.executor_options("prefect", list(DEPLOYMENT_OPTIONS))
    try:
        from quant_flows_prefect.deploy import ServedDeployment, serve_pipeline
    except ImportError as error:
        raise BackendNotInstalledError(
            f"`quant deploy prefect` needs the package {PREFECT_PACKAGE!r}: pip install {PREFECT_PACKAGE} "
            f"({error})"
        ) from None

    def announce(deployment: ServedDeployment) -> None:
        if state.json_output:
            write_json({"deployment": deployment.document()})
        else:
            _draw(state.err, deployment.document())

    serve_pipeline(
        state.sdk(), pipeline_id, name=name, profile=profile, params=parse_params(param), cron=cron,
        task_runner=task_runner or configured.get("task_runner") or "thread",
        ray_address=ray_address or configured.get("ray_address"),
        api_url=prefect_api_url or configured.get("prefect_api_url"),
        metrics_port=config.settings.telemetry.metrics_port if metrics_port is None else metrics_port,
        metrics_host=metrics_host, on_ready=announce,
    )


def _draw(console: Console, document: dict[str, Any]) -> None:
    render.key_values(
        console,
        [
            ("deployment", document["full_name"]),
            ("id", document["deployment_id"]),
            ("profile", document["profile"]),
            ("params", document["params"] or None),
            ("schedule", document["cron"]),
            ("Prefect API", document["api_url"]),
            ("metrics", document["metrics_url"]),
        ],
    )
    render.line(
        console,
        f"serving; start a run with `prefect deployment run '{document['full_name']}'` "
        f"(--param profile=NAME for another profile); Ctrl-C stops",
    )


def build() -> typer.Typer:
    app = typer.Typer(help="Serve pipelines as deployments of an orchestrator.", no_args_is_help=True)
    app.command("prefect")(deploy_prefect)
    return app
