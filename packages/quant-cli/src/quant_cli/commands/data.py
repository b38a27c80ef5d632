"""`quant data list`: the datasets installed through the `quant.datasets` entry point group."""

from __future__ import annotations

from typing import Any

import typer
from quant_core.entrypoints import DATASETS_GROUP, iter_loaded

from quant_cli import documents, render
from quant_cli.output import emit
from quant_cli.state import get_state


def is_dataset(item: Any) -> bool:
    return isinstance(getattr(item, "name", None), str) and hasattr(item, "load")


def list_datasets(ctx: typer.Context) -> None:
    """List the installed datasets and their parameters."""
    state = get_state(ctx)
    datasets = [
        documents.dataset_summary(item, f"{entry_point.name} = {entry_point.value}")
        for entry_point, item in iter_loaded(DATASETS_GROUP, is_dataset, "a dataset (with a name and a load method)")
    ]
    datasets.sort(key=lambda d: d["name"])
    emit(state, {"datasets": datasets}, render.dataset_list)


def build() -> typer.Typer:
    app = typer.Typer(help="Inspect the installed datasets.", no_args_is_help=True, add_completion=False)
    app.command("list")(list_datasets)
    return app
