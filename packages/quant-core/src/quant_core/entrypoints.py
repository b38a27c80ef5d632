"""Explicit, loud loading of plug-ins declared as entry points.

A broken entry point raises `EntryPointError` naming it; nothing is skipped silently, and nothing
registers itself as a side effect of importing an unrelated module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Any

from quant_core.errors import EntryPointError

STAGES_GROUP = "quant.stages"
PIPELINES_GROUP = "quant.pipelines"
EXECUTORS_GROUP = "quant.executors"
DATASETS_GROUP = "quant.datasets"
PROFILES_GROUP = "quant.profiles"


def installed_entry_points() -> EntryPoints:
    """Every installed distribution's entry points, all groups, in one scan.

    A scan reads and parses every distribution's metadata whichever groups it is asked for (tens of
    milliseconds in an environment of a few hundred packages): a caller that needs several groups
    scans once and selects each from the result."""
    return entry_points()


def group_entry_points(group: str, installed: EntryPoints | None = None) -> list[EntryPoint]:
    """The group's entry points, sorted by name so that loading order never depends on install order:
    selected from `installed` (one scan shared by several groups), else from a scan of their own."""
    found = installed.select(group=group) if installed is not None else entry_points(group=group)
    return sorted(found, key=lambda ep: (ep.name, ep.value))


def load_entry_point(entry_point: EntryPoint) -> Any:
    try:
        return entry_point.load()
    except Exception as exc:
        raise EntryPointError(
            entry_point.group, entry_point.name, entry_point.value, f"{type(exc).__name__}: {exc}"
        ) from exc


def iter_loaded(
    group: str, accept: Callable[[Any], bool], what: str, installed: EntryPoints | None = None
) -> Iterator[tuple[EntryPoint, Any]]:
    """Load each entry point of `group` (from `installed` when given, see `group_entry_points`);
    each must give an accepted object or an iterable of them."""
    for entry_point in group_entry_points(group, installed):
        loaded = load_entry_point(entry_point)
        items = [loaded] if accept(loaded) else loaded
        try:
            items = list(items)
        except TypeError:
            raise EntryPointError(
                group, entry_point.name, entry_point.value, f"expected {what} or a list of them, got {loaded!r}"
            ) from None
        for item in items:
            if not accept(item):
                raise EntryPointError(
                    group, entry_point.name, entry_point.value, f"expected {what}, got {item!r}"
                )
            yield entry_point, item
