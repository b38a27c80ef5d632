"""Options shared by the commands that start runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

RunIdOption = Annotated[
    str | None,
    typer.Option("--run-id", metavar="RUN", help="Run id to use (default: <target>-<UTC time>-<random>)."),
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", metavar="NAME", help="Profile whose parameters to start from.")
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="NAME=VALUE", help="Parameter override; repeat for several."),
]
ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor", metavar="NAME",
        help="Executor: local, or ray/prefect/dbos when installed (default: QUANT_EXECUTOR, else quant.toml's, else local).",
    ),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Recompute every stage, ignoring the cache.")]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, metavar="N", help="Run a fan-out's sleeves on N worker processes."),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address", metavar="ADDR",
        help="Ray cluster to join (executor ray, or prefect with --task-runner ray); default RAY_ADDRESS, else a local Ray.",
    ),
]
TaskRunnerOption = Annotated[
    str | None,
    typer.Option("--task-runner", metavar="NAME", help="Prefect task runner for the sleeves (executor prefect): thread or ray."),
]
PrefectApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--prefect-api-url", metavar="URL",
        help="Prefect server API (executor prefect), e.g. http://127.0.0.1:4200/api; default PREFECT_API_URL, else quant.toml's.",
    ),
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port", min=0, max=65535, metavar="PORT",
        help="Serve /metrics (Prometheus) on PORT (default: telemetry.metrics_port, 9464; 0 picks a free one).",
    ),
]
MetricsHostOption = Annotated[
    str, typer.Option("--metrics-host", metavar="ADDR", help="Address /metrics listens on (0.0.0.0: every interface).")
]
DbosDatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--dbos-database-url", metavar="URL",
        help="DBOS system database (executor dbos): sqlite:///... or postgresql://...; default SQLite under QUANT_HOME.",
    ),
]


def executor_options(
    workers: int | None = None,
    ray_address: str | None = None,
    task_runner: str | None = None,
    dbos_database_url: str | None = None,
    *,
    prefect_api_url: str | None = None,
) -> dict[str, Any]:
    """Only what the user asked for: the SDK checks each against the chosen executor, so
    `--ray-address` with `--executor local` is a clear error naming the option."""
    given = {
        "workers": workers, "ray_address": ray_address, "task_runner": task_runner,
        "dbos_database_url": dbos_database_url, "prefect_api_url": prefect_api_url,
    }
    return {name: value for name, value in given.items() if value is not None}
