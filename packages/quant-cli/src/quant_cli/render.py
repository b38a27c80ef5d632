"""Rich renderings of the documents in `documents.py` (human output on stdout), sized to the
terminal (`tables.py`); a run's results are drawn by `results_view.py`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from quant_cli.cells import (  # noqa: F401  (re-exported)
    STATUS_STYLES, fmt_duration, fmt_value, key_values, line, run_status_text, say, status_text,
)
from quant_cli.results_view import draw_results, has_results
from quant_cli.run_ids import short_id
from quant_cli.tables import Column, fit_table


def titled(console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
    """A bold title line, then the table fitted to the console."""
    say(console, title, "bold")
    console.print(fit_table(console, None, columns, rows))


# -- listings -----------------------------------------------------------------------------------


def listing(
    console: Console,
    items: Sequence[dict[str, Any]],
    noun: str,
    empty: str,
    columns: Sequence[Column],
    cells: Callable[[dict[str, Any]], Sequence[Any]],
) -> None:
    """A titled table of `items` ("N noun(s)"), or the `empty` line."""
    if not items:
        line(console, empty)
        return
    titled(console, f"{len(items)} {noun}(s)", columns, [cells(item) for item in items])


def stage_params_table(console: Console, title: str, params: dict[str, dict[str, Any]]) -> None:
    """One row per (stage, parameter, value), sorted."""
    rows = [
        (stage_id, name, fmt_value(value))
        for stage_id, values in sorted(params.items())
        for name, value in sorted(values.items())
    ]
    titled(console, title, (Column("stage"), Column("parameter"), Column("value", wrap=True)), rows)


# -- stages, pipelines, profiles, datasets -----------------------------------------------------

DESCRIPTION = Column("description", 2, clip=True)


def stage_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["stages"], "stage",
        "no stages installed (install quant-stages, or a package that provides some)",
        (Column("id"), Column("version", 4), Column("tags", 3), Column("context", 3), DESCRIPTION),
        lambda s: (s["id"], s["version"], ", ".join(s["tags"]), s["context_kind"], s["description"]),
    )


def pipeline_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["pipelines"], "pipeline", "no pipelines installed",
        (Column("id"), Column("context", 3), Column("steps", 2, wrap=True), DESCRIPTION),
        lambda p: (p["id"], p["context_kind"], " → ".join(p["steps"]), p["description"]),
    )


def pipeline_show(console: Console, document: dict[str, Any]) -> None:
    key_values(
        console,
        [("pipeline", document["id"]), ("context", document["context_kind"]), ("description", document["description"] or "—")],
    )
    rows = []
    for step in document["steps"]:
        if step["kind"] == "fan_out":
            how = "strict" if step["strict"] else "lenient"
            rows.append((str(step["step"]), "fan-out", f"{step['pipeline']} per sleeve ({how} gate)", ""))
            rows.extend(("", "", f"  └ {stage_id}", "") for stage_id in step["stages"])
        else:
            rows.append((str(step["step"]), "stage", step["id"], fmt_value(step["params"]) if step["params"] else ""))
    titled(
        console, "steps",
        (Column("#", justify="right"), Column("kind", 3), Column("step"), Column("params", 2, wrap=True)), rows,
    )


def profile_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["profiles"], "profile", "no profiles found",
        (Column("name"), Column("kind"), Column("sleeves", 3, wrap=True), DESCRIPTION),
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
        stage_params_table(console, "stage parameters", document["stage_params"])
    if document["sleeves"]:
        titled(
            console, "sleeves",
            (
                Column("sleeve"), Column("profile"), Column("min weight", 2, justify="right"),
                Column("max weight", 2, justify="right"), Column("overrides", 3, wrap=True),
            ),
            [
                (
                    sleeve["name"], sleeve["profile"], fmt_value(sleeve["min_weight"]), fmt_value(sleeve["max_weight"]),
                    fmt_value(sleeve["stage_params"]) if sleeve["stage_params"] else "",
                )
                for sleeve in document["sleeves"]
            ],
        )


def dataset_list(console: Console, document: dict[str, Any]) -> None:
    listing(
        console, document["datasets"], "dataset",
        "no datasets installed (install quant-stages for the built-in 'synthetic' market)",
        (Column("name"), Column("params", 3, wrap=True), DESCRIPTION),
        lambda d: (d["name"], ", ".join(sorted(d["params_schema"].get("properties", {}))), d["description"]),
    )


# -- runs --------------------------------------------------------------------------------------


def stages_table(console: Console, title: str, rows: Sequence[dict[str, Any]]) -> None:
    cells = [
        (
            str(row["step"]), row["id"], status_text(row["status"]), "hit" if row["cache_hit"] else "",
            fmt_duration(row["duration_s"]), Text(row.get("error") or "", style="red"),
        )
        for row in rows
    ]
    titled(
        console, title,
        (
            Column("#", justify="right"), Column("stage"), Column("status"), Column("cache", 2),
            Column("duration", 2, justify="right"), Column("error", wrap=True),
        ),
        cells,
    )


def sleeves_table(console: Console, sleeves: Sequence[dict[str, Any]]) -> None:
    rows = []
    for sleeve in sleeves:
        stages = sleeve["stages"]
        rows.append((
            sleeve["name"], sleeve["profile"], status_text(sleeve["status"]), str(len(stages)),
            str(sum(1 for r in stages if r["cache_hit"])), fmt_duration(sum(r["duration_s"] for r in stages)),
            short_id(sleeve["run_id"]),
        ))
    titled(
        console, "sleeves",
        (
            Column("sleeve"), Column("profile", 3), Column("status"), Column("stages", 4, justify="right"),
            Column("cached", 4, justify="right"), Column("duration", 2, justify="right"), Column("run", 2),
        ),
        rows,
    )


def run_result(console: Console, document: dict[str, Any]) -> None:
    """A finished run: outcome, stages and sleeves, where it is recorded, then its results."""
    run_summary(console, document)
    run_footer(console, document)
    draw_results(console, document["results"])


def run_header(document: dict[str, Any]) -> Text:
    mark = "✓" if document["status"] == "succeeded" else "✗"
    upstream = document.get("upstream")
    what = f"stage {document['target']}" if upstream else f"{document['kind']} {document['target']}"
    header = Text(f"{mark} {what} ", style="bold")
    header.append(document["status"], style=STATUS_STYLES.get(document["status"], ""))
    if upstream:
        header.append(f" (after {len(upstream['steps'])} step(s) of pipeline {upstream['pipeline']})")
    return header


def run_summary(console: Console, document: dict[str, Any]) -> None:
    """The outcome line, then the stages and the sleeves."""
    say(console, run_header(document))
    stages_table(console, "stages", document["stages"])
    if document["sleeves"]:
        sleeves_table(console, document["sleeves"])


def run_footer(console: Console, document: dict[str, Any]) -> None:
    """How much came from the cache, and where the run is recorded."""
    line(console, cache_summary(document))
    short = short_id(document["run_id"])
    line(console, f"run id: {document['run_id']}" + (f" (short: {short})" if short != document["run_id"] else ""))
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


RUN_COLUMNS = (
    Column("run"), Column("target"), Column("profile", 2), Column("status"), Column("sleeves", 2, justify="right"),
    Column("started (UTC)", 2), Column("duration", 3, justify="right"), Column("kind", 5), Column("executor", 5),
)


def run_row(run: dict[str, Any], label: str) -> tuple[Any, ...]:
    sleeves = run.get("sleeve_runs") or []
    return (
        label, run["target"], run["profile"] or "—", run_status_text(run["status"], run.get("engine_state")),
        str(len(sleeves)) if sleeves else "",
        run["started_at"][5:19].replace("T", " "),
        fmt_duration(_seconds_between(run["started_at"], run["finished_at"])), run["kind"], run["executor"],
    )


def run_list(console: Console, document: dict[str, Any]) -> None:
    """Top-level runs, newest first; a meta run's sleeve runs under it when listed (`--all`)."""
    runs = document["runs"]
    if not runs:
        line(console, "no runs recorded yet")
        return
    by_id = {r["run_id"]: r for r in runs}
    rows = []
    for run in runs:
        if run.get("parent_run_id") in by_id:
            continue  # drawn under its parent
        rows.append(run_row(run, short_id(run["run_id"])))
        for child in run.get("sleeve_runs") or []:
            if child in by_id:
                sleeve = by_id[child]
                rows.append(run_row(sleeve, f" └ {child.removeprefix(run['run_id'] + '.')}"))
    top = sum(1 for r in runs if r.get("parent_run_id") not in by_id)
    titled(console, f"{top} run(s)", RUN_COLUMNS, rows)
    if any(r.get("sleeve_runs") for r in runs) and len(by_id) == top:
        say(console, "sleeve runs are listed under their meta run with --all", "dim")


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
            # the engine's view of the run, e.g. the Prefect flow run (id, API and UI URLs)
            ("engine", manifest.get("engine")),
            ("traces", ", ".join(document.get("trace_ids", [])) or None),
            ("record", document["record"]),
        ],
    )
    params = {k: v for k, v in manifest["params"].items() if v}
    if params:
        stage_params_table(console, "parameters", params)
    ledger_table(console, "ledger", document["ledger"])
    for sleeve in document["sleeves"]:
        status = run_status_text(sleeve["status"], sleeve.get("engine_state")).plain
        ledger_table(console, f"sleeve run {sleeve['run_id']} ({status})", sleeve["ledger"])
    if has_results(document.get("results")):
        if manifest["status"] != "succeeded":
            say(console, f"results of the steps it finished (the run {manifest['status']}):", "yellow")
        draw_results(console, document["results"])


def run_cancelled(console: Console, document: dict[str, Any]) -> None:
    engine = document["engine_state"]
    line(
        console,
        f"run {document['run_id']}: {engine['engine']} workflow {engine['status'].lower()}; what it finished is "
        f"kept, and `quant runs resume {document['run_id']}` continues it",
    )


def ledger_table(console: Console, title: str, ledger: Sequence[dict[str, Any]]) -> None:
    rows = [
        (
            str(entry["step"]), entry["stage_id"], str(entry["attempt"]), status_text(entry["status"]),
            "hit" if entry["cache_hit"] else "", fmt_duration(entry["duration_s"]),
            entry["started_at"][11:19], entry["error"] or "",
        )
        for entry in ledger
    ]
    titled(
        console, title,
        (
            Column("#", justify="right"), Column("stage"), Column("try", 4, justify="right"), Column("status"),
            Column("cache", 2), Column("duration", 2, justify="right"), Column("started (UTC)", 3),
            Column("error", wrap=True),
        ),
        rows,
    )


