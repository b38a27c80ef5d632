"""Rich renderings of the documents in `documents.py` (human output on stdout)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
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


# -- stages, pipelines, profiles, datasets -----------------------------------------------------


def stage_list(console: Console, document: dict[str, Any]) -> None:
    stages = document["stages"]
    if not stages:
        line(console, "no stages installed (install quant-stages, or a package that provides some)")
        return
    table = Table(title=f"{len(stages)} stage(s)", title_justify="left")
    table.add_column("id", no_wrap=True)
    for name in ("version", "tags", "context", "description"):
        table.add_column(name, overflow="fold")
    for stage in stages:
        table.add_row(
            stage["id"], stage["version"], ", ".join(stage["tags"]), stage["context_kind"], stage["description"]
        )
    console.print(table)


def pipeline_list(console: Console, document: dict[str, Any]) -> None:
    pipelines = document["pipelines"]
    if not pipelines:
        line(console, "no pipelines installed")
        return
    table = Table(title=f"{len(pipelines)} pipeline(s)", title_justify="left")
    for name in ("id", "context", "steps", "description"):
        table.add_column(name, overflow="fold")
    for pipeline in pipelines:
        table.add_row(
            pipeline["id"], pipeline["context_kind"], " → ".join(pipeline["steps"]), pipeline["description"]
        )
    console.print(table)


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
    profiles = document["profiles"]
    if not profiles:
        line(console, "no profiles found")
        return
    table = Table(title=f"{len(profiles)} profile(s)", title_justify="left")
    for name in ("name", "kind", "sleeves", "description"):
        table.add_column(name, overflow="fold")
    for profile in profiles:
        table.add_row(profile["name"], profile["kind"], ", ".join(profile["sleeves"]), profile["description"])
    console.print(table)


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
        table = Table(title="stage parameters", title_justify="left")
        for name in ("stage", "parameter", "value"):
            table.add_column(name, overflow="fold")
        for stage_id, params in sorted(document["stage_params"].items()):
            for name, value in sorted(params.items()):
                table.add_row(stage_id, name, fmt_value(value))
        console.print(table)
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
    datasets = document["datasets"]
    if not datasets:
        line(console, "no datasets installed (install quant-stages for the built-in 'synthetic' market)")
        return
    table = Table(title=f"{len(datasets)} dataset(s)", title_justify="left")
    for name in ("name", "params", "description"):
        table.add_column(name, overflow="fold")
    for dataset in datasets:
        params = sorted(dataset["params_schema"].get("properties", {}))
        table.add_row(dataset["name"], ", ".join(params), dataset["description"])
    console.print(table)


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
    runs = document["runs"]
    if not runs:
        line(console, "no runs recorded yet")
        return
    table = Table(title=f"{len(runs)} run(s)", title_justify="left")
    table.add_column("run id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("target", overflow="fold")
    table.add_column("profile", overflow="fold")
    for name in ("status", "executor", "started (UTC)", "duration"):
        table.add_column(name, no_wrap=True)
    for run in runs:
        table.add_row(
            run["run_id"], run["kind"], run["target"], run["profile"] or "—", status_text(run["status"]),
            run["executor"], run["started_at"][5:19].replace("T", " "),
            fmt_duration(_seconds_between(run["started_at"], run["finished_at"])),
        )
    console.print(table)


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
            ("status", status_text(manifest["status"])),
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
        table = Table(title="parameters", title_justify="left")
        for name in ("stage", "parameter", "value"):
            table.add_column(name, overflow="fold")
        for stage_id, values in sorted(params.items()):
            for name, value in sorted(values.items()):
                table.add_row(stage_id, name, fmt_value(value))
        console.print(table)
    console.print(ledger_table("ledger", document["ledger"]))
    for sleeve in document["sleeves"]:
        console.print(ledger_table(f"sleeve run {sleeve['run_id']} ({sleeve['status']})", sleeve["ledger"]))


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
