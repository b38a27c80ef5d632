"""`quant config show`: the effective settings of this deployment and where each came from."""

from __future__ import annotations

from typing import Any

import typer
from quant_core.config import QuantConfig, redact
from quant_core.errors import ExecutorNotFoundError
from quant_core.executors.options import accepted_options
from quant_core.sdk import QuantSDK
from rich.console import Console

from quant_cli import render
from quant_cli.output import emit
from quant_cli.tables import Column
from quant_cli.state import get_state


def config_document(config: QuantConfig, sdk: QuantSDK) -> dict[str, Any]:
    """The settings, the file they were read from, and what the configured executor will be
    handed (or what to install when its package is missing)."""
    name = config.executor
    executor: dict[str, Any] = {"name": name, "source": config.sources["executor.name"]}
    try:
        factory = sdk.registry.executor_factory(name)
    except ExecutorNotFoundError as missing:
        executor.update(installed=False, error=str(missing))
    else:
        options = config.executor_options(name, accepted_options(factory))
        executor.update(installed=True, options={k: redact(v) for k, v in options.items()})
    return {
        "file": str(config.file) if config.file else None,
        "settings": {row.pop("key"): row for row in config.describe()},
        "executor": executor,
    }


def show(ctx: typer.Context) -> None:
    """Show the effective configuration: each setting, its value and where it came from (a flag,
    the environment, quant.toml / [tool.quant] / QUANT_CONFIG, or the default)."""
    state = get_state(ctx)
    emit(state, config_document(state.config(), state.sdk()), draw_config)


SETTINGS_COLUMNS = (Column("setting"), Column("value", wrap=True), Column("from"), Column("environment", 2))


def draw_config(console: Console, document: dict[str, Any]) -> None:
    render.line(console, f"config file: {document['file'] or 'none (defaults and environment only)'}")
    rows = [
        (key, render.fmt_value(row["value"]), row["source"], render.fmt_value(row["env"]))
        for key, row in document["settings"].items()
    ]
    render.titled(console, "settings", SETTINGS_COLUMNS, rows)
    executor = document["executor"]
    if executor["installed"]:
        options = ", ".join(f"{k}={v}" for k, v in executor["options"].items()) or "none"
        render.line(console, f"executor {executor['name']}: installed; options from the settings: {options}")
    else:
        render.line(console, f"executor {executor['name']}: {executor['error']}")


def build() -> typer.Typer:
    app = typer.Typer(help="Show the deployment's configuration (quant.toml).", no_args_is_help=True)
    app.command("show")(show)
    return app
