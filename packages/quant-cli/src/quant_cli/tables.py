"""Tables sized to the terminal.

A table never cuts a number or an id to `0.…`: columns that hold figures, ids and names never wrap
(only long free text such as descriptions and errors does), a column that is empty in every row is
left out, and when the table is still wider than the console the least important columns are
dropped, by priority, until it fits. On a wide console every column stays. The frame is light
(a rule under the header, no vertical lines) so that the columns, not the borders, take the width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

#: What counts as an empty cell when deciding that a column says nothing.
EMPTY_CELLS = ("", "—")
Cell = str | Text
UNBOUNDED = 100_000
#: The narrowest a wrapped or clipped text column gets before lower-priority columns give way.
FREE_TEXT_MIN_WIDTH = 16


@dataclass(frozen=True)
class Column:
    """`priority` 1 is always kept; when the console is too narrow, the highest number goes first
    (the rightmost of equals). `wrap`: free text that may wrap; `clip`: free text kept to one line,
    cut with an ellipsis to the width left (a listing's descriptions); every other column is shown
    whole."""

    name: str
    priority: int = 1
    justify: Literal["left", "right", "center"] = "left"
    wrap: bool = False
    clip: bool = False


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def is_empty(cell: Cell) -> bool:
    return _plain(cell).strip() in EMPTY_CELLS


def new_table(title: str | None = None) -> Table:
    return Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
        show_edge=False, header_style="bold", padding=(0, 1, 0, 0),
    )


def _build(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], keep: list[int]) -> Table:
    table = new_table(title)
    for index in keep:
        column = columns[index]
        if column.wrap or column.clip:
            table.add_column(
                column.name, justify=column.justify, min_width=max(len(column.name), FREE_TEXT_MIN_WIDTH),
                overflow="ellipsis" if column.clip else "fold",
            )
        else:
            # Its whole width, header included (Rich would count only the cells as the minimum).
            natural = max([cell_len(column.name), *(cell_len(_plain(row[index])) for row in rows)])
            table.add_column(column.name, justify=column.justify, no_wrap=True, min_width=natural)
    for row in rows:
        table.add_row(*(_one_line(row[index]) if columns[index].clip else row[index] for index in keep))
    return table


def _one_line(cell: Cell) -> Text:
    """A clipped cell: one line, cut with an ellipsis (a column that may shrink, a cell that may
    not wrap: Rich shrinks only columns that wrap)."""
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def fit_table(
    console: Console, title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]
) -> Table:
    """A table of `rows` (one cell per column) that fits `console.width` (see the module's note)."""
    keep = [i for i, _ in enumerate(columns) if not rows or not all(is_empty(row[i]) for row in rows)]
    unbounded = console.options.update_width(UNBOUNDED)  # measured at the console's width, it would be clamped to it
    while True:
        table = _build(title, columns, rows, keep)
        if Measurement.get(console, unbounded, table).minimum <= console.width:
            return table
        droppable = [i for i in keep if columns[i].priority > 1]
        if not droppable:
            return table
        keep.remove(max(droppable, key=lambda i: (columns[i].priority, i)))
