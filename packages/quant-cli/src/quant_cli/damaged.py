"""Damaged items in a listing (a run whose manifest is garbage, a ledger line, a profile file):
named with their path and what was found, under the items that could be read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


def draw_damaged(console: Console, damaged: Sequence[dict[str, Any]], noun: str) -> None:
    """`damaged`: documents with `path`, `reason` and optionally `line` (nothing drawn if empty)."""
    if not damaged:
        return
    table = Table(title=f"{len(damaged)} damaged {noun}(s), not listed above", title_justify="left", title_style="red")
    table.add_column("file", overflow="fold")
    table.add_column("line", justify="right")
    table.add_column("what was found", overflow="fold")
    for item in damaged:
        line = item.get("line")
        table.add_row(item["path"], "" if line is None else str(line), item["reason"])
    console.print(table)
