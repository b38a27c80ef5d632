"""The `quant` command: wiring of the command groups, the global options and `main()`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from quant_core.config import ENVIRONMENT
from quant_core.home import DEFAULT_HOME, QUANT_HOME_ENV, QuantHome
from quant_core.sdk import QuantSDK

from quant_cli.commands import config, data, demo, metrics, pipeline, profile, runs, skills, stage, store
from quant_cli.group import QuantGroup
from quant_cli.state import CliState, SdkFactory
from quant_cli.threads import single_threaded_blas

HELP = (
    "quant: build, run and inspect quantitative portfolio pipelines.\n\n"
    "The global options --home, --store, --store-options, --json and --debug may be given anywhere on the line "
    "(`quant stage list --json`)."
)

STORE_HELP = (
    "Where artifacts and the stage cache live: a path or a URL such as s3://bucket/prefix (needs "
    f"quant-core\\[store]); default: {ENVIRONMENT['store']}, else the store of quant.toml, else the home."
)
STORE_OPTIONS_HELP = (
    'fsspec storage options of a URL store, e.g. \'{"endpoint_url": "http://127.0.0.1:9000"}\' '
    f"(default: {ENVIRONMENT['store_options']}, else quant.toml)."
)

EXIT_CODES = (
    "[bold]Exit codes[/bold]: 0 success · 2 usage or validation error (bad parameter, malformed "
    "--param, bad run id) · 3 unknown stage, pipeline, profile, run, executor or dataset · "
    "4 a stage failed (`quant store verify`: damage found) · 5 a sleeve failed (meta gate) · "
    "1 anything else."
)


def build_app(sdk_factory: SdkFactory) -> typer.Typer:
    """The `quant` app. `sdk_factory(home)` builds the SDK a command uses (tests inject a toy one)."""
    app = typer.Typer(
        cls=QuantGroup,
        help=HELP,
        epilog=EXIT_CODES,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        home: Annotated[
            Path | None,
            typer.Option(
                "--home", metavar="PATH",
                help=(
                    f"Where runs, artifacts, the cache and profiles live (default: {QUANT_HOME_ENV}, "
                    f"else the home of quant.toml, else ./{DEFAULT_HOME})."
                ),
            ),
        ] = None,
        store: Annotated[
            str | None,
            typer.Option(
                "--store", metavar="PATH|URL",
                help=STORE_HELP,
            ),
        ] = None,
        store_options: Annotated[
            str | None,
            typer.Option(
                "--store-options", metavar="JSON",
                help=STORE_OPTIONS_HELP,
            ),
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")
        ] = False,
        debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    ) -> None:
        ctx.obj = CliState(
            sdk_factory=sdk_factory, home_flag=home, store_flag=store, store_options_flag=store_options,
            json_output=json_output, debug=debug,
        )

    app.add_typer(stage.build(), name="stage")
    app.add_typer(pipeline.build(), name="pipeline")
    runs.register(app)
    app.add_typer(runs.build(), name="runs")
    app.add_typer(profile.build(), name="profile")
    app.add_typer(data.build(), name="data")
    app.add_typer(skills.build(), name="skills")
    app.add_typer(store.build(), name="store")
    app.add_typer(config.build(), name="config")
    metrics.register(app)
    demo.register(app)
    return app


def default_sdk(home: QuantHome) -> QuantSDK:
    """The real SDK: stages, pipelines, executors and profiles from the installed entry points."""
    return QuantSDK(home=home)


def main() -> None:
    single_threaded_blas(os.environ)
    build_app(default_sdk)(prog_name="quant")
