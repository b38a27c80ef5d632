"""Drawing a run's `results` (see `summary.py`) at the width of the terminal.

Figures are shown as a practitioner reads them (returns, volatility and drawdown in percent,
ratios with two decimals); the JSON keeps the raw values. Tables drop their least important
columns on a narrow terminal (`tables.fit_table`); one-line lists (winners, clusters) end with
"+N" when the line is full.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from quant_cli.cells import fmt_value, line, say, status_text
from quant_cli.tables import Cell, Column, fit_table

#: Rows of a list shown on screen (the JSON has them all).
TOP_ROWS = 10


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def ratio(value: float) -> str:
    return f"{value:.2f}"


def count(value: float) -> str:
    return fmt_value(value)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    fmt: Callable[[float], str]
    priority: int


METRICS = (
    Metric("sharpe", "sharpe", ratio, 1),
    Metric("cagr", "cagr", percent, 1),
    Metric("annualized_volatility", "vol", percent, 2),
    Metric("max_drawdown", "max dd", percent, 2),
    Metric("total_return", "return", percent, 3),
    Metric("sortino", "sortino", ratio, 3),
    Metric("calmar", "calmar", ratio, 4),
    Metric("hit_rate", "hit rate", percent, 4),
    Metric("total_turnover", "turnover", ratio, 5),
    Metric("total_costs", "costs", percent, 5),
)
#: Backtest entries that describe the period rather than the performance (the period line).
PERIOD_KEYS = (
    "start", "end", "dates", "periods", "windows", "cash_windows", "periods_per_year", "cost_bps",
    "delistings", "delisting_return",
)
EXTRA_METRIC_PRIORITY = 6


def metric_cell(metric: Metric, metrics: Mapping[str, Any]) -> str:
    value = metrics.get(metric.key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return metric.fmt(float(value))


def metrics_of(*sources: Mapping[str, Any]) -> list[Metric]:
    """The known metrics, then any other number the sources hold (a stage's own figure)."""
    known = {m.key for m in METRICS}
    extra = []
    for source in sources:
        for key, value in source.items():
            if key not in known and key not in PERIOD_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
                if key not in [m.key for m in extra]:
                    extra.append(Metric(key, key.replace("_", " "), count, EXTRA_METRIC_PRIORITY))
    return [*METRICS, *extra]


#: Entries of `results` that describe it rather than hold a result.
RESULT_LABELS = ("view", "stage", "sleeve_figures", "notes")


def has_results(results: Mapping[str, Any] | None) -> bool:
    return bool(results) and any(v for k, v in results.items() if k not in RESULT_LABELS)


def draw_results(console: Console, results: Mapping[str, Any]) -> None:
    """The results of a run, last thing on screen: what the user came for."""
    if results.get("sleeves"):
        draw_meta(console, results)
    elif results.get("metrics"):
        draw_metrics(console, results["metrics"])
    if results.get("weights"):
        draw_weights(console, results["weights"])
    if results.get("selection"):
        draw_selection(console, results["selection"])
    for title, rows in (results.get("report_sections") or {}).items():
        draw_generic(console, f"report · {title.replace('_', ' ')}", rows)
    for field, summary in (results.get("outputs") or {}).items():
        say(console, Text.assemble((f"{field}: ", "bold"), describe_output(summary)))
    for note in results.get("notes") or ():
        say(console, f"note: {note}", "dim")


def period_line(period: Mapping[str, Any]) -> str | None:
    parts = []
    if period.get("start") and period.get("end"):
        parts.append(f"{str(period['start'])[:10]} to {str(period['end'])[:10]}")
    days = period.get("dates", period.get("periods"))
    if isinstance(days, int | float):
        parts.append(f"{int(days)} periods")
    if isinstance(period.get("windows"), int | float):
        cash = period.get("cash_windows")
        parts.append(f"{int(period['windows'])} walk-forward windows" + (f" ({int(cash)} in cash)" if cash else ""))
    if isinstance(period.get("cost_bps"), int | float):
        parts.append(f"costs {period['cost_bps']:g} bps")
    delistings, closed_at = period.get("delistings"), period.get("delisting_return")
    if isinstance(delistings, int | float) and delistings and isinstance(closed_at, int | float):
        parts.append(f"{int(delistings)} delisted holding{'s' if delistings != 1 else ''} closed at {closed_at:+.0%}")
    return " · ".join(parts) or None


def draw_metrics(console: Console, metrics: Mapping[str, Any]) -> None:
    columns = metrics_of(metrics)
    period = period_line(metrics)
    title = "out-of-sample metrics" + (f" ({period})" if period else "")
    table = fit_table(
        console, None,
        [Column(m.label, m.priority, justify="right") for m in columns],
        [[metric_cell(m, metrics) for m in columns]],
    )
    say(console, title, "bold")
    console.print(table)


def draw_meta(console: Console, results: Mapping[str, Any]) -> None:
    """One table: each sleeve and the meta-portfolio, weight and figures side by side."""
    sleeves = results["sleeves"]
    meta_metrics = results.get("metrics") or {}
    columns = metrics_of(meta_metrics, *(s["metrics"] for s in sleeves))
    failed = any(s["status"] != "succeeded" for s in sleeves)
    header = [Column("sleeve"), Column("weight", justify="right")]
    if failed:
        header.append(Column("status"))
    header += [Column(m.label, m.priority, justify="right") for m in columns]
    header.append(Column("own sharpe", 2, justify="right"))  # empty (so left out) without a report
    rows: list[list[Cell]] = []
    for sleeve in sleeves:
        row: list[Cell] = [sleeve["name"], percent(sleeve["weight"]) if isinstance(sleeve.get("weight"), int | float) else "—"]
        if failed:
            row.append(status_text(sleeve["status"]))
        row += [metric_cell(m, sleeve["metrics"]) for m in columns]
        row.append(metric_cell(METRICS[0], sleeve.get("own_metrics") or {}) if results.get("sleeve_figures") == "common_calendar" else "—")
        rows.append(row)
    if meta_metrics:
        total = sum(s["weight"] for s in sleeves if isinstance(s.get("weight"), int | float))
        row = [Text("meta-portfolio", style="bold"), percent(total)] + ([""] if failed else [])
        row += [Text(metric_cell(m, meta_metrics), style="bold") for m in columns]
        rows.append([*row, ""])
    period = period_line(results.get("period") or {})
    say(console, "sleeves and meta-portfolio" + (f" ({period})" if period else ""), "bold")
    console.print(fit_table(console, None, header, rows))
    for sleeve in sleeves:
        if sleeve.get("error"):
            say(console, f"{sleeve['name']}: {sleeve['error']}", "red")
    top = results.get("top_assets") or []
    if top:
        draw_positions(console, f"top assets ({min(len(top), TOP_ROWS)} of {len(top)} listed)", top, "sleeves")


def draw_weights(console: Console, weights: Mapping[str, Any]) -> None:
    engine = weights.get("engine") or "—"
    if weights.get("requested_engine") and weights["requested_engine"] != engine:
        engine = f"{engine}, after {weights['requested_engine']} failed"
    positions = weights.get("positions")
    title = f"top weights ({engine}" + (f", {positions} positions" if positions is not None else "") + ")"
    if weights.get("top"):
        draw_positions(console, title, weights["top"], "cluster")
    else:
        say(console, title, "bold")


def draw_positions(console: Console, title: str, rows: Sequence[Mapping[str, Any]], group: str) -> None:
    numeric = all(isinstance(r.get(group), int | float) for r in rows)
    columns = [
        Column("symbol"), Column("weight", justify="right"), Column("direction", 2),
        Column(group, 3, justify="right" if numeric else "left"),
    ]
    cells = [
        [
            str(r.get("symbol", "")),
            percent(r["weight"] if "weight" in r else r.get("net_weight", math.nan)),
            str(r.get("direction", "")),
            fmt_value(r.get(group)),
        ]
        for r in rows[:TOP_ROWS]
    ]
    say(console, title, "bold")
    console.print(fit_table(console, None, columns, cells))


def listed(console: Console, label: str, items: Sequence[str]) -> Text:
    """`label: a, b, c … +M` cut to the console's width."""
    head = f"{label}: "
    shown: list[str] = []
    for index, item in enumerate(items):
        rest = len(items) - index - 1
        tail = f" … +{rest}" if rest else ""
        candidate = ", ".join([*shown, item])
        if len(head) + len(candidate) + len(tail) > console.width and shown:
            return Text.assemble((head, "bold"), ", ".join(shown) + f" … +{len(items) - len(shown)}")
        shown.append(item)
    return Text.assemble((head, "bold"), ", ".join(shown) or "none")


def draw_selection(console: Console, selection: Mapping[str, Any]) -> None:
    """Winners, clusters and vetoes: a line each."""
    if "winners" in selection:
        line(console, listed(console, f"winners ({len(selection['winners'])})", selection["winners"]))
    clusters = selection.get("clusters")
    if clusters:
        largest_first = sorted(clusters["sizes"].items(), key=lambda item: (-item[1], item[0]))
        sizes = [f"{name} {size}" for name, size in largest_first]
        line(console, listed(console, f"clusters ({len(sizes)}, largest first)", sizes))
    vetoes = selection.get("vetoes")
    if vetoes:
        reasons = [f"{reason} {n}" for reason, n in vetoes["reasons"].items()]
        line(console, listed(console, f"vetoed ({vetoes['count']} assets, by reason)", reasons))


def describe_output(summary: Any) -> str:
    if isinstance(summary, Mapping) and "artifact" in summary:
        return f"artifact {summary['artifact']}, {human_size(summary['size'])}"
    if isinstance(summary, Mapping) and "sizes" in summary:
        return f"{summary['count']} groups ({', '.join(f'{k} {v}' for k, v in list(summary['sizes'].items())[:6])}{', …' if summary['count'] > 6 else ''})"
    if isinstance(summary, Mapping) and set(summary) <= {"count", "first"}:
        return f"{summary['count']} items"
    return fmt_value(summary)


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def draw_generic(console: Console, title: str, value: Any) -> None:
    """A report section the CLI has no view for: a mapping as name/value rows, a list of records
    as a table."""
    if isinstance(value, Mapping):
        rows = [[str(k), fmt_value(v)] for k, v in value.items()]
        columns = [Column("name"), Column("value", justify="right")]
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        columns = [Column(k, 1 if i < 2 else i) for i, k in enumerate(keys)]
        rows = [[fmt_value(v.get(k)) for k in keys] for v in value]
    else:
        say(console, Text.assemble((f"{title}: ", "bold"), fmt_value(value)))
        return
    say(console, title, "bold")
    console.print(fit_table(console, None, columns, rows))
