"""`quant profile list | show`."""

from __future__ import annotations

from typing import Annotated

import typer

from quant_cli import documents, render
from quant_cli.output import emit
from quant_cli.state import get_state


def list_profiles(ctx: typer.Context) -> None:
    """List the profiles (built-in and under $QUANT_HOME/profiles)."""
    state = get_state(ctx)
    sdk = state.sdk()
    profiles = [sdk.resolve_profile(name) for name in sdk.profiles.names(sdk.home)]
    emit(state, {"profiles": [documents.profile_summary(p) for p in profiles]}, render.profile_list)


def show_profile(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name (see `quant profile list`).")],
) -> None:
    """Show a resolved profile: its parameters per stage, and its sleeves for a meta profile
    (whose profiles are checked as a run would check them)."""
    state = get_state(ctx)
    emit(state, state.sdk().check_profile(name).model_dump(mode="json"), render.profile_show)


def build() -> typer.Typer:
    app = typer.Typer(help="Inspect profiles (named parameter sets).", no_args_is_help=True, add_completion=False)
    app.command("list")(list_profiles)
    app.command("show")(show_profile)
    return app
