"""The meta report of a finished run: its HTML file exported next to the run, and its tables.

`MetaContext.report` holds refs to the rendered files (`html`, `markdown`) and small JSON tables
(`metrics`, `sleeves`, `top_assets`, ...). Whatever is there is drawn generically, so a new
section in the report stage shows up without a CLI change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quant_core.artifacts import ArtifactRef
from quant_core.sdk import QuantSDK, RunResult
from rich.console import Console
from rich.table import Table

from quant_cli.documents import run_document
from quant_cli.render import fmt_value, generic_table

REPORT_FILE_NAME = "report.html"
FILE_KEYS = ("html", "markdown")
SECTION_ORDER = ("metrics", "sleeves", "top_assets")


def artifact_ref(value: Any) -> ArtifactRef:
    """A ref stored in the report as JSON data (or as JSON text)."""
    if isinstance(value, str):
        return ArtifactRef.model_validate_json(value)
    return ArtifactRef.model_validate(value)


def export_html_report(sdk: QuantSDK, run_id: str, report: Mapping[str, Any]) -> Path | None:
    """Place the report's HTML at `runs/<run_id>/report.html` (atomically, checked against its
    hash; a hard link to the artifact where possible, so a cached re-run stores no second copy);
    None if the run made no HTML report."""
    if not report.get("html"):
        return None
    path = sdk.record(run_id).path / REPORT_FILE_NAME
    return sdk.home.artifact_store().export(artifact_ref(report["html"]), path)


def finished_run_document(sdk: QuantSDK, result: RunResult) -> dict[str, Any]:
    """The run's JSON document, with `report_path` set when the run made an HTML report (it is
    exported to `runs/<run_id>/report.html` then), whichever command ran it."""
    document = run_document(sdk, result)
    path = export_html_report(sdk, result.run_id, document["outputs"].get("report") or {})
    document["report_path"] = str(path) if path is not None else None
    return document


def _flatten_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """`{"name": .., "metrics": {"sharpe": ..}}` -> `{"name": .., "sharpe": ..}` for one table row."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            flat.update({k: v for k, v in value.items() if k not in flat})
        else:
            flat[key] = value
    return flat


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _key_value_table(title: str, values: Mapping[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("name")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(str(key), fmt_value(value))
    return table


def render_report(console: Console, report: Mapping[str, Any]) -> None:
    sections = [k for k in SECTION_ORDER if k in report]
    sections += [k for k in report if k not in sections and k not in FILE_KEYS]
    for key in sections:
        value = report[key]
        title = f"report · {key.replace('_', ' ')}"
        if isinstance(value, Mapping) and value:
            console.print(_key_value_table(title, value))
        elif _is_table(value):
            console.print(generic_table(title, [_flatten_row(r) for r in value], first=("name", "symbol", "weight")))


def render_sleeve_outcomes(console: Console, outputs: Mapping[str, Any]) -> None:
    """For a meta run without a report: each sleeve's outcome and the meta weights."""
    results = outputs.get("sleeve_results") or []
    if results:
        rows = [
            {"name": r["name"], "profile": r["profile"], "status": r["status"], **r.get("summary", {})}
            for r in results
        ]
        console.print(generic_table("sleeve results", rows, first=("name", "profile", "status")))
    weights = outputs.get("meta_weights") or {}
    if weights:
        console.print(_key_value_table("meta weights", weights))
