"""Rich renderings of the documents in `documents.py` (human output on stdout)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
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


def key_values(console: Console, pairs: Iterable[tuple[str, Any]]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(key, value if isinstance(value, Text) else fmt_value(value))
    console.print(grid)


def union_keys(rows: Sequence[dict[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """Columns for a generic table: `first` (when present), then other keys in first-seen order."""
    keys = [k for k in first if any(k in r for r in rows)]
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return keys


def generic_table(title: str, rows: Sequence[dict[str, Any]], first: Sequence[str] = ()) -> Table:
    keys = union_keys(rows, first)
    table = Table(title=title, title_justify="left")
    for key in keys:
        table.add_column(key, justify="right" if _numeric_column(rows, key) else "left")
    for row in rows:
        table.add_row(*(fmt_value(row.get(k)) for k in keys))
    return table


def _numeric_column(rows: Sequence[dict[str, Any]], key: str) -> bool:
    values = [r.get(key) for r in rows if r.get(key) is not None]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


# -- listings -----------------------------------------------------------------------------------


def listing(
    console: Console,
    items: Sequence[dict[str, Any]],
    noun: str,
    empty: str,
    columns: Sequence[str],
    cells: Callable[[dict[str, Any]], Sequence[Any]],
    whole: Sequence[str] = (),
) -> None:
    """A titled table of `items` ("N noun(s)"), or the `empty` line; `whole` columns never wrap."""
    if not items:
        line(console, empty)
        return
    table = Table(title=f"{len(items)} {noun}(s)", title_justify="left")
    for name in columns:
        if name in whole:
            table.add_column(name, no_wrap=True)
        else:
            table.add_column(name, overflow="fold")
    for item in items:
        table.add_row(*cells(item))
    console.print(table)


def stage_params_table(title: str, params: dict[str, dict[str, Any]]) -> Table:
    """One row per (stage, parameter, value), sorted."""
    table = Table(title=title, title_justify="left")
    for name in ("stage", "parameter", "value"):
        table.add_column(name, overflow="fold")
    for stage_id, values in sorted(params.items()):
        for name, value in sorted(values.items()):
            table.add_row(stage_id, name, fmt_value(value))
    return table


# -- stages, pipelines, profiles, datasets -----------------------------------------------------


def stage_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["stages"], "stage",
        "no stages installed (install quant-stages, or a package that provides some)",
        ("id", "version", "tags", "context", "description"),
        lambda s: (s["id"], s["version"], ", ".join(s["tags"]), s["context_kind"], s["description"]),
        whole=("id",),
    )


def pipeline_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["pipelines"], "pipeline", "no pipelines installed",
        ("id", "context", "steps", "description"),
        lambda p: (p["id"], p["context_kind"], " → ".join(p["steps"]), p["description"]),
    )


def pipeline_show(console: Console, document: dict[str, Any]) -> None:
    key_values(
        console,
        [("pipeline", document["id"]), ("context", document["context_kind"]), ("description", document["description"] or "—")],
    )
    table = Table(title="steps", title_justify="left")
    for name in ("#", "kind", "step", "params"):
        table.add_column(name, overflow="fold")
    for step in document["steps"]:
        if step["kind"] == "fan_out":
            how = "strict" if step["strict"] else "lenient"
            table.add_row(str(step["step"]), "fan-out", f"{step['pipeline']} per sleeve ({how} gate)", "")
            for stage_id in step["stages"]:
                table.add_row("", "", f"  └ {stage_id}", "")
        else:
            table.add_row(str(step["step"]), "stage", step["id"], fmt_value(step["params"]) if step["params"] else "")
    console.print(table)


def profile_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["profiles"], "profile", "no profiles found",
        ("name", "kind", "sleeves", "description"),
        lambda p: (p["name"], p["kind"], ", ".join(p["sleeves"]), p["description"]),
    )


def profile_show(console: Console, document: dict[str, Any]) -> None:
    key_values(
        console,
        [
            ("profile", document["name"]),
            ("kind", document["kind"]),
            ("description", document["description"] or "—"),
            ("source", document["source"] or "—"),
        ],
    )
    if document["stage_params"]:
        console.print(stage_params_table("stage parameters", document["stage_params"]))
    if document["sleeves"]:
        table = Table(title="sleeves", title_justify="left")
        for name in ("sleeve", "profile", "min weight", "max weight", "overrides"):
            table.add_column(name, overflow="fold")
        for sleeve in document["sleeves"]:
            table.add_row(
                sleeve["name"], sleeve["profile"], fmt_value(sleeve["min_weight"]), fmt_value(sleeve["max_weight"]),
                fmt_value(sleeve["stage_params"]) if sleeve["stage_params"] else "",
            )
        console.print(table)


def dataset_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["datasets"], "dataset",
        "no datasets installed (install quant-stages for the built-in 'synthetic' market)",
        ("name", "params", "description"),
        lambda d: (d["name"], ", ".join(sorted(d["params_schema"].get("properties", {}))), d["description"]),
    )


# -- runs --------------------------------------------------------------------------------------


def stages_table(title: str, rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("stage", no_wrap=True)
    table.add_column("status", overflow="fold")
    table.add_column("cache")
    table.add_column("duration", justify="right")
    for row in rows:
        cache = "hit" if row["cache_hit"] else ""
        status = status_text(row["status"])
        if row.get("error"):
            status.append(f": {row['error']}", style="red")
        table.add_row(str(row["step"]), row["id"], status, cache, fmt_duration(row["duration_s"]))
    return table


def sleeves_table(sleeves: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="sleeves", title_justify="left")
    for name in ("sleeve", "profile", "status", "stages", "cached", "duration"):
        table.add_column(name, overflow="fold")
    table.add_column("run id", no_wrap=True)
    for sleeve in sleeves:
        stages = sleeve["stages"]
        table.add_row(
            sleeve["name"], sleeve["profile"], status_text(sleeve["status"]), str(len(stages)),
            str(sum(1 for r in stages if r["cache_hit"])), fmt_duration(sum(r["duration_s"] for r in stages)),
            sleeve["run_id"],
        )
    return table


def run_result(console: Console, document: dict[str, Any]) -> None:
    run_summary(console, document)
    run_footer(console, document)


def run_summary(console: Console, document: dict[str, Any]) -> None:
    """The outcome line, then the stages and the sleeves."""
    mark = "✓" if document["status"] == "succeeded" else "✗"
    header = Text(f"{mark} {document['kind']} {document['target']} ", style="bold")
    header.append(document["status"], style=STATUS_STYLES.get(document["status"], ""))
    line(console, header)
    console.print(stages_table("stages", document["stages"]))
    if document["sleeves"]:
        console.print(sleeves_table(document["sleeves"]))


def run_footer(console: Console, document: dict[str, Any]) -> None:
    """How much came from the cache, and where the run is recorded."""
    line(console, cache_summary(document))
    line(console, f"run id: {document['run_id']}")
    line(console, f"record: {document['record']}")
    if document.get("report_path"):
        line(console, f"report: {document['report_path']}")


def cache_summary(document: dict[str, Any]) -> str:
    total, hits = document["stage_count"], document["cache_hits"]
    if total and hits == total:
        return f"served from the cache: all {total} stage(s) were cache hits, nothing was recomputed"
    if hits:
        return f"{hits} of {total} stage(s) served from the cache, {total - hits} computed"
    return f"{total} stage(s) computed, none from the cache"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def run_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["runs"], "run", "no runs recorded yet",
        ("run id", "kind", "target", "profile", "status", "executor", "started (UTC)", "duration"),
        lambda r: (
            r["run_id"], r["kind"], r["target"], r["profile"] or "—", run_status_text(r["status"], r.get("engine_state")),
            r["executor"], r["started_at"][5:19].replace("T", " "),
            fmt_duration(_seconds_between(r["started_at"], r["finished_at"])),
        ),
        whole=("run id", "kind", "status", "executor", "started (UTC)", "duration"),
    )


def run_show(console: Console, document: dict[str, Any]) -> None:
    manifest = document["manifest"]
    key_values(
        console,
        [
            ("run id", manifest["run_id"]),
            ("kind", manifest["kind"]),
            ("target", manifest["target"]),
            ("profile", manifest["profile"]),
            ("executor", manifest["executor"]),
            ("status", run_status_text(manifest["status"], document.get("engine_state"))),
            ("started", manifest["started_at"]),
            ("finished", manifest["finished_at"]),
            ("invocations", manifest["invocations"]),
            ("parent run", manifest["parent_run_id"]),
            ("error", manifest["error"]),
            ("record", document["record"]),
        ],
    )
    params = {k: v for k, v in manifest["params"].items() if v}
    if params:
        console.print(stage_params_table("parameters", params))
    console.print(ledger_table("ledger", document["ledger"]))
    for sleeve in document["sleeves"]:
        status = run_status_text(sleeve["status"], sleeve.get("engine_state")).plain
        console.print(ledger_table(f"sleeve run {sleeve['run_id']} ({status})", sleeve["ledger"]))


def run_cancelled(console: Console, document: dict[str, Any]) -> None:
    engine = document["engine_state"]
    line(
        console,
        f"run {document['run_id']}: {engine['engine']} workflow {engine['status'].lower()}; what it finished is "
        f"kept, and `quant runs resume {document['run_id']}` continues it",
    )


def ledger_table(title: str, ledger: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("stage", no_wrap=True)
    table.add_column("try", justify="right")
    table.add_column("status")
    table.add_column("cache")
    table.add_column("duration", justify="right")
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("error", overflow="fold")
    for entry in ledger:
        table.add_row(
            str(entry["step"]), entry["stage_id"], str(entry["attempt"]), status_text(entry["status"]),
            "hit" if entry["cache_hit"] else "", fmt_duration(entry["duration_s"]),
            entry["started_at"][11:19], entry["error"] or "",
        )
    return table
