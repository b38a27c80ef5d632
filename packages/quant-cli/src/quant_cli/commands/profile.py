"""`quant profile list | show`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from quant_core.errors import DataValidationError, ParamValidationError
from rich.console import Console

from quant_cli import documents, render
from quant_cli.damaged import draw_damaged
from quant_cli.output import emit
from quant_cli.state import get_state


def list_profiles(ctx: typer.Context) -> None:
    """List the profiles (built-in and under $QUANT_HOME/profiles)."""
    state = get_state(ctx)
    sdk = state.sdk()
    profiles, damaged = [], []
    for name in sdk.profiles.names(sdk.home):
        try:
            profiles.append(documents.profile_summary(sdk.resolve_profile(name)))
        except (DataValidationError, ParamValidationError) as exc:
            # one broken file must not hide the others: listed apart, with its path and rule
            damaged.append({"name": name, "path": getattr(exc, "source", None) or name, "reason": str(exc)})
    emit(state, {"profiles": profiles, "damaged": damaged}, draw_profile_list)


def draw_profile_list(console: Console, document: dict[str, Any]) -> None:
    render.profile_list(console, document)
    draw_damaged(console, document["damaged"], "profile")


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
