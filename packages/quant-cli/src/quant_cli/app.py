"""The `quant` command: the root group, its global options and `main()`.

Importing this module imports Typer and nothing of quant-core: the commands (and the SDK, Rich
tables, jsonschema behind them) are loaded when one runs (`group.LAZY_COMMANDS`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quant_cli.group import QuantGroup
from quant_cli.threads import single_threaded_blas

if TYPE_CHECKING:
    from quant_core.home import QuantHome
    from quant_core.sdk import QuantSDK

    from quant_cli.state import SdkFactory

#: quant-core's `QUANT_HOME_ENV`, `DEFAULT_HOME` and the store settings' variables
#: (`config.ENVIRONMENT`), repeated so that `--help` need not import quant-core (a test checks
#: they agree).
QUANT_HOME_ENV = "QUANT_HOME"
DEFAULT_HOME = ".quant"
QUANT_STORE_ENV = "QUANT_STORE"
QUANT_STORE_OPTIONS_ENV = "QUANT_STORE_OPTIONS"

HELP = (
    "quant: build, run and inspect quantitative portfolio pipelines.\n\n"
    "The global options --home, --store, --store-options, --json and --debug may be given "
    "anywhere on the line (`quant stage list --json`). A run id may be abbreviated to any unique "
    "prefix, or to the random part of a generated id (the short id the tables show)."
)

STORE_HELP = (
    "Where artifacts and the stage cache live: a path or a URL such as s3://bucket/prefix (needs "
    f"quant-core\\[store]); default: {QUANT_STORE_ENV}, else the store of quant.toml, else the home."
)
STORE_OPTIONS_HELP = (
    'fsspec storage options of a URL store, e.g. \'{"endpoint_url": "http://127.0.0.1:9000"}\' '
    f"(default: {QUANT_STORE_OPTIONS_ENV}, else quant.toml)."
)

EXIT_CODES = (
    "Exit codes: 0 success · 2 usage or validation error (bad parameter, malformed --param, bad "
    "or ambiguous run id) · 3 unknown stage, pipeline, profile, run, executor or dataset · "
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
        rich_markup_mode=None,
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
        from quant_cli.state import CliState

        # The home and the store are resolved on first use (`CliState.config`): flag over
        # environment over quant.toml, so `--help` reads no configuration file.
        ctx.obj = CliState(
            sdk_factory=sdk_factory, home_flag=home, store_flag=store, store_options_flag=store_options,
            json_output=json_output, debug=debug,
        )

    return app


def default_sdk(home: QuantHome) -> QuantSDK:
    """The real SDK: stages, pipelines, executors and profiles from the installed entry points."""
    from quant_core.sdk import QuantSDK

    return QuantSDK(home=home)


def main() -> None:
    single_threaded_blas(os.environ)
    # A local Ray started by this command (--task-runner ray) runs its workers on this
    # interpreter, where quant is installed. Under `uv run`, Ray would otherwise start each
    # worker with `uv run` in an uploaded copy of the working directory: an environment rebuilt
    # per worker, without the extras that hold ray and quant's backends.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    build_app(default_sdk)(prog_name="quant")
