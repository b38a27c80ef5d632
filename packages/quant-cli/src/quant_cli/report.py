"""The meta report of a finished run: its HTML file exported next to the run.

`MetaContext.report` holds refs to the rendered files (`html`, `markdown`) and small JSON tables
(`metrics`, `sleeves`, `top_assets`, ...); the tables are drawn with the run's results
(`summary.py`, `results_view.py`), any section without a view of its own generically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quant_core.artifacts import ArtifactRef
from quant_core.sdk import QuantSDK, RunResult

from quant_cli.documents import run_document
from quant_cli.upstream import Upstream

REPORT_FILE_NAME = "report.html"
FILE_KEYS = ("html", "markdown")


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


def finished_run_document(sdk: QuantSDK, result: RunResult, upstream: Upstream | None = None) -> dict[str, Any]:
    """The run's JSON document, with `report_path` set when the run made an HTML report (it is
    exported to `runs/<run_id>/report.html` then), whichever command ran it, and `upstream` when
    a stage run ran the steps before its stage first."""
    document = run_document(sdk, result)
    document["upstream"] = upstream.document() if upstream is not None else None
    path = export_html_report(sdk, result.run_id, document["outputs"].get("report") or {})
    document["report_path"] = str(path) if path is not None else None
    return document
