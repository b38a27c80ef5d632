"""Cell and line formatting shared by every rendering: numbers, durations, statuses, and lines
that never wrap."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {"succeeded": "green", "failed": "red", "running": "yellow"}


def fmt_value(value: Any) -> str:
    """A cell: numbers at a readable precision, missing values as '—', structures as JSON."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value.is_integer() and abs(value) >= 1:  # a count stored as a float
            return fmt_value(int(value))
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4f}"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def run_status_text(status: str, engine_state: dict[str, Any] | None) -> Text:
    """A run's status, with its engine's view when it has one: `running (dbos: pending)`."""
    text = status_text(status)
    if engine_state:
        text.append(
            f" ({engine_state['engine']}: {'pending' if engine_state['pending'] else engine_state['status'].lower()})",
            style="yellow" if engine_state["pending"] else "dim",
        )
    return text


def line(console: Console, text: str | Text) -> None:
    """One line that is never wrapped (paths and run ids must stay copyable)."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def say(console: Console, text: str | Text, style: str = "") -> None:
    """Prose that wraps at the console's width (titles, notes)."""
    console.print(text if isinstance(text, Text) else Text(text, style=style), markup=False, highlight=False)


def key_values(console: Console, pairs: Iterable[tuple[str, Any]]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(key, value if isinstance(value, Text) else fmt_value(value))
    console.print(grid)
