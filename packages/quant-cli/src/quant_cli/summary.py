"""What a run produced, summarised: the `results` of every run document.

The view follows what was run:

- a stage (alone, or after its upstream steps): the fields its `Outputs` declares;
- a pipeline ending in a meta context: the sleeves, their weights and the meta-portfolio's metrics
  (from the report when there is one), and its top assets;
- a pipeline ending in a selection context: the out-of-sample metrics and the top weights when it
  backtested (a portfolio), the winners, clusters and vetoes in any case.

Every known field has one summary (metrics, weights, selection, sleeves); any other field is
summarised generically (an artifact by its type and size, a collection by its size). The JSON is
the data; `results_view.py` draws it to the terminal's width.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from quant_core.context import MetaContext, RunContext, SelectionContext
from quant_core.registry import StageRegistry

#: Fields each pipeline view summarises (a stage view uses its stage's `Outputs`).
META_FIELDS = ("report", "meta_weights", "sleeve_results")
PORTFOLIO_FIELDS = ("backtest", "allocation", "winners", "clusters", "vetoes")
SELECTION_FIELDS = ("winners", "clusters", "vetoes", "allocation")
SELECTION_SUMMARY_FIELDS = ("winners", "clusters", "vetoes")
WEIGHTS_FIELDS = ("allocation", "weights")
#: Report entries drawn as their own sections; any other table in the report is drawn generically.
REPORT_FILES = ("html", "markdown")
REPORT_SECTIONS = ("metrics", "sleeves", "top_assets", "period")
#: A mapping of plain values up to this size is shown as it is, a larger one by its size.
INLINE_ENTRIES = 12

CALENDAR_NOTE = (
    "sleeve rows are measured on the common calendar of all sleeves; own sharpe is each sleeve's "
    "own backtest, on its own calendar"
)


def stage_output_fields(registry: StageRegistry, stage_id: str) -> list[str]:
    return list(registry.get(stage_id).output_schema.get("properties", {}))


def results_document(registry: StageRegistry, target: str, context: RunContext) -> dict[str, Any]:
    """The `results` of a run of `target` (a stage or pipeline id) that ended with `context`."""
    if target in registry:
        view, fields = "stage", stage_output_fields(registry, target)
    elif isinstance(context, MetaContext):
        view, fields = "meta", list(META_FIELDS)
    elif isinstance(context, SelectionContext) and context.backtest:
        view, fields = "portfolio", list(PORTFOLIO_FIELDS)
    elif isinstance(context, SelectionContext):
        view, fields = "selection", list(SELECTION_FIELDS)
    else:
        view, fields = "run", []
    data = context.model_dump(mode="json")
    present = _present(data, fields)
    stage = target if view == "stage" else None
    if not present and view != "stage":
        # Nothing of the view's own (a pipeline that failed early, or one of other stages): what
        # the last stage that ran produced (the context records each stage's params in order).
        stage = next((s for s in reversed(list(context.params)) if s in registry), None)
        present = _present(data, stage_output_fields(registry, stage)) if stage else {}
    results: dict[str, Any] = {"view": view, "stage": stage}
    results.update(_sections(present, context))
    return results


def _present(data: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The fields that hold something."""
    values = {f: _field_value(data, f) for f in fields}
    return {f: v for f, v in values.items() if v not in (None, {}, [])}


def _field_value(data: Mapping[str, Any], field: str) -> Any:
    """A context field, or the artifact of that name (as `Stage.outputs` reads them)."""
    return data[field] if field in data else data.get("artifacts", {}).get(field)


def _sections(present: dict[str, Any], context: RunContext) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    notes: list[str] = []
    if "backtest" in present:
        sections["metrics"] = dict(present.pop("backtest"))
    weights = {f: present.pop(f) for f in WEIGHTS_FIELDS if f in present}
    if "allocation" in weights:
        sections["weights"] = weights_summary(weights["allocation"])
    elif "weights" in weights:
        present["weights"] = weights["weights"]
    selection = {f: present.pop(f) for f in SELECTION_SUMMARY_FIELDS if f in present}
    if selection:
        sections["selection"] = selection_summary(selection)
    if {"report", "meta_weights", "sleeve_results"} & set(present) and isinstance(context, MetaContext):
        report = present.pop("report", None) or {}
        present.pop("meta_weights", None)
        present.pop("sleeve_results", None)
        sections.update(meta_summary(context, report, notes))
    if present:
        sections["outputs"] = {field: generic_summary(value) for field, value in present.items()}
    sections["notes"] = notes
    return sections


def weights_summary(allocation: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "engine": allocation.get("engine"),
        "requested_engine": allocation.get("requested_engine"),
        "positions": allocation.get("positions"),
        "fallbacks_tried": allocation.get("fallbacks_tried") or [],
        "top": list(allocation.get("top_weights") or []),
    }


def _group_sizes(groups: Any) -> dict[str, int] | None:
    if isinstance(groups, Mapping) and all(isinstance(v, list) for v in groups.values()):
        return {str(k): len(v) for k, v in groups.items()}
    return None


def selection_summary(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Winners as they are; clusters by size; vetoes by reason (an asset may have several)."""
    summary: dict[str, Any] = {}
    if "winners" in fields:
        summary["winners"] = list(fields["winners"])
    sizes = _group_sizes(fields.get("clusters"))
    if sizes is not None:
        summary["clusters"] = {"count": len(sizes), "sizes": sizes}
    vetoes = fields.get("vetoes")
    if isinstance(vetoes, Mapping):
        reasons = Counter(reason for why in vetoes.values() for reason in why)
        summary["vetoes"] = {"count": len(vetoes), "reasons": dict(reasons.most_common())}
    return summary


def meta_summary(context: MetaContext, report: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """The sleeves (status, weight, figures), the meta-portfolio's metrics and top assets."""
    weights = dict(context.meta_weights)
    report_rows = {row.get("name"): row for row in report.get("sleeves") or [] if isinstance(row, Mapping)}
    sleeves = []
    for result in context.sleeve_results:
        row = report_rows.get(result.name, {})
        sleeves.append({
            "name": result.name,
            "profile": result.profile,
            "status": result.status,
            "run_id": result.run_id,
            "weight": row.get("weight", weights.get(result.name)),
            # The report's figures are on the common calendar; without a report, the sleeve's own.
            "metrics": dict(row.get("metrics") or {}) if report_rows else dict(result.summary),
            "own_metrics": dict(result.summary),
            **({"error": result.error} if result.error else {}),
        })
    period = report.get("period") if isinstance(report.get("period"), Mapping) else {}
    if report_rows and any("sharpe" in s["own_metrics"] for s in sleeves):
        notes.append(CALENDAR_NOTE)
    # What the sleeve rows' figures are: the report's, on the calendar common to all sleeves, or
    # each sleeve's own backtest.
    summary: dict[str, Any] = {"sleeves": sleeves, "sleeve_figures": "common_calendar" if report_rows else "own"}
    if report.get("metrics"):
        summary["metrics"] = dict(report["metrics"])
    if period:
        summary["period"] = dict(period)
    if report.get("top_assets"):
        summary["top_assets"] = list(report["top_assets"])
    extra = {k: v for k, v in report.items() if k not in (*REPORT_FILES, *REPORT_SECTIONS)}
    if extra:
        summary["report_sections"] = extra
    return summary


def generic_summary(value: Any) -> Any:
    """An artifact by its media type and size; a collection by its size (and first items)."""
    if isinstance(value, Mapping) and {"sha256", "size", "media_type"} <= set(value):
        return {"artifact": value["media_type"], "size": value["size"], "sha256": value["sha256"]}
    sizes = _group_sizes(value)
    if sizes is not None and sizes:
        return {"count": len(sizes), "sizes": sizes}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return {"count": len(value), "first": list(value[:3])}
    if isinstance(value, Mapping) and (len(value) > INLINE_ENTRIES or any(isinstance(v, Mapping | list) for v in value.values())):
        return {"count": len(value)}
    return value
