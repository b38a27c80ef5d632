"""meta.report: Markdown and a self-contained HTML report of the meta-portfolio."""

from __future__ import annotations

import base64
import html
from pydantic import Field
from quant_core.context import MetaContext
from quant_core.stage import Stage, StageOutputs, StageParams

from quant_stages.numbers import json_safe

METRIC_LABELS = {
    "cagr": "CAGR", "annualized_volatility": "Volatility", "sharpe": "Sharpe", "sortino": "Sortino",
    "max_drawdown": "Max drawdown", "calmar": "Calmar", "hit_rate": "Hit rate",
}


class ReportParams(StageParams):
    title: str = Field(default="quant meta-portfolio report", description="report title")
    top_assets: int = Field(default=15, ge=1, le=200, description="assets listed in the top-weights table")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="{"num" if isinstance(c, (int, float)) else "text"}">{html.escape(_fmt(c))}</td>' for c in row
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class MetaReport(Stage[MetaContext]):
    """A Markdown and a self-contained HTML report (plots embedded as PNG): cumulative returns of
    the meta-portfolio and each sleeve, drawdown, the sleeve weights of every meta rebalance, top
    asset weights, the sleeve correlation heatmap and a metrics table.

    Out of sample throughout: each sleeve series is its stitched walk-forward test returns, and
    the meta-portfolio is `meta.optimize`'s walk-forward run over them (weights re-estimated at
    each meta rebalance from earlier sleeve returns only, costs paid), never the current weights
    applied to the past. Every series is shown over the meta-portfolio's period (from its first
    rebalance), so the rows of the metrics table compare like with like. The weights tables are
    the current ones (estimated on the latest window, for trading now)."""

    id = "meta.report"
    version = "4"  # 2: Volatility reads annualized_volatility; 3: log-scale growth, heatmap; 4: walk-forward meta returns
    tags = ("meta", "report")
    context_type = MetaContext
    Params = ReportParams

    class Outputs(StageOutputs):
        report: dict

    def execute(self, context: MetaContext) -> MetaContext:
        import pandas as pd

        from quant_stages import report_plots
        from quant_stages.data.returns import periods_per_year
        from quant_stages.frames import get_frame, get_series
        from quant_stages.kernels.metrics import drawdown_series, performance_metrics
        from quant_stages.stages.meta import MetaOptimizeParams

        aligned = get_frame(self.artifacts, context.meta_returns, what="meta returns (run meta.returns first)")
        meta = get_series(
            self.artifacts, context.artifacts.get("meta_portfolio_returns"),
            what="meta-portfolio returns (run meta.optimize first)",
        ).rename("meta")
        history = get_frame(self.artifacts, context.artifacts.get("meta_weight_history"), what="meta weight history")
        schedule = MetaOptimizeParams.model_validate(context.params.get("meta.optimize", {}))
        sleeves = aligned.loc[meta.index]
        weights = pd.Series(context.meta_weights).reindex(sleeves.columns).fillna(0.0)
        ppy = float(periods_per_year(meta.to_frame()).iloc[0])
        flattened = get_frame(self.artifacts, context.flattened_weights, what="flattened weights (run meta.flatten first)")

        metrics = {"meta-portfolio": json_safe(performance_metrics(meta, ppy))}
        for name in sleeves.columns:
            metrics[name] = json_safe(performance_metrics(sleeves[name], ppy))
        top = flattened.reindex(flattened["net_weight"].abs().sort_values(ascending=False, kind="stable").index).head(self.params.top_assets)

        metric_rows = [[name] + [m.get(k) for k in METRIC_LABELS] for name, m in metrics.items()]
        metric_header = ["portfolio", *METRIC_LABELS.values()]
        weight_rows = [[n, float(weights[n])] for n in sleeves.columns]
        top_rows = [[r.symbol, float(r.net_weight), r.direction, int(r.n_sleeves)] for r in top.itertuples()]
        figures = {
            "Cumulative returns": report_plots.cumulative_returns(meta, sleeves),
            "Drawdown": report_plots.drawdown(drawdown_series(meta)),
            "Sleeve weights": report_plots.weight_history(history),
            "Top asset weights": report_plots.bars(top.set_index("symbol")["net_weight"], "Top asset net weights"),
            "Sleeve correlation": report_plots.correlation_heatmap(sleeves),
        }
        span = f"{sleeves.index[0].date()} to {sleeves.index[-1].date()} ({len(sleeves)} common dates)"
        method = (
            f"Out of sample: each sleeve is its walk-forward backtest's test returns; the meta-portfolio "
            f"re-estimates its sleeve weights every {schedule.rebalance} dates from the previous "
            f"{schedule.train} dates of sleeve returns ({len(history)} rebalances) and pays "
            f"{schedule.cost_bps:g} bp on the turnover between sleeves, so every return shown was earned "
            f"with weights decided before it. The weights tables are the current ones (latest "
            f"{schedule.train} dates), for trading now."
        )
        markdown = "\n\n".join([
            f"# {self.params.title}",
            f"Profile `{context.meta_profile or context.profile}`; out-of-sample period {span}.",
            method,
            "## Metrics", _markdown_table(metric_header, metric_rows),
            "## Sleeve weights", _markdown_table(["sleeve", "weight"], weight_rows),
            "## Top assets", _markdown_table(["symbol", "net weight", "direction", "sleeves"], top_rows),
        ]) + "\n"
        images = "".join(
            f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'
            for title, png in figures.items()
        )
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.params.title)}</title><style>"
            "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}td.num{text-align:right}td.text{text-align:left}"
            "th{background:#f3f3f3}img{max-width:100%}</style></head><body>"
            f"<h1>{html.escape(self.params.title)}</h1><p>Profile <code>{html.escape(str(context.meta_profile or context.profile))}</code>; "
            f"out-of-sample period {html.escape(span)}.</p><p>{html.escape(method)}</p>"
            f"<h2>Metrics</h2>{_html_table(metric_header, metric_rows)}"
            f"<h2>Sleeve weights</h2>{_html_table(['sleeve', 'weight'], weight_rows)}"
            f"<h2>Top assets</h2>{_html_table(['symbol', 'net weight', 'direction', 'sleeves'], top_rows)}"
            f"{images}</body></html>"
        )
        md_ref = self.artifacts.put(markdown.encode(), "text/markdown")
        html_ref = self.artifacts.put(page.encode(), "text/html")
        report = {
            "html": html_ref.model_dump(mode="json"), "markdown": md_ref.model_dump(mode="json"),
            "metrics": metrics["meta-portfolio"],
            "sleeves": [{"name": n, "weight": float(weights[n]), "metrics": metrics[n]} for n in sleeves.columns],
            "top_assets": [{"symbol": r[0], "net_weight": r[1], "direction": r[2], "sleeves": r[3]} for r in top_rows],
            "period": {"start": sleeves.index[0].isoformat(), "end": sleeves.index[-1].isoformat(), "dates": len(sleeves)},
            "meta_schedule": {"train": schedule.train, "rebalance": schedule.rebalance, "cost_bps": schedule.cost_bps,
                              "rebalances": len(history)},
        }
        return context.model_copy(update={
            "report": report, "artifacts": context.with_artifacts(report_html=html_ref, report_markdown=md_ref),
        })
