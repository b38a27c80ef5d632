"""Options shared by the commands that start runs."""

from __future__ import annotations

from typing import Annotated

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
    str,
    typer.Option("--executor", metavar="NAME", help="Executor (local, or ray/prefect/dbos when installed)."),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Recompute every stage, ignoring the cache.")]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, metavar="N", help="Run a fan-out's sleeves on N worker processes."),
]
