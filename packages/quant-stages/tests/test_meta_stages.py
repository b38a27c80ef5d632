"""The meta stages through the SDK on hand-built sleeve results: calendars aligned by
compounding, sleeve bounds, netting across sleeves, and the self-contained report.

Each test writes the sleeves' artifacts (stitched returns, weights tables) to the SDK's store and
hands the stage a MetaContext that names them, as the fan-out would."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from quant_core.artifacts import ArtifactRef
from quant_core.context import MetaContext, SleeveResult, SleeveSpec
from quant_core.errors import DataValidationError, ParamValidationError, StageFailedError
from quant_stages.data.returns import periods_per_year
from quant_stages.frames import get_frame, put_frame, put_series
from quant_stages.kernels.allocation import optimize
from quant_stages.kernels.constraints import WeightBounds
from quant_stages.kernels.covariance import covariance

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: (symbol, direction, weight) rows of a sleeve's weights table.
Holding = tuple[str, str, float]


def utc(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def seven_day_stream(seed: int = 1, end: str = "2024-01-21") -> pd.Series:
    """Monday 2024-01-01 to Sunday 2024-01-21 (or `end`), every day."""
    dates = pd.date_range("2024-01-01", end, freq="D", tz="UTC", name="date")
    return pd.Series(np.random.default_rng(seed).normal(0.001, 0.02, len(dates)), index=dates)


def weekday_stream(seed: int = 2, end: str = "2024-01-19") -> pd.Series:
    """Tuesday 2024-01-02 to Friday 2024-01-19 (or `end`), weekdays, Monday 2024-01-15 a holiday."""
    dates = pd.bdate_range("2024-01-02", end, tz="UTC", name="date").drop(utc("2024-01-15"))
    return pd.Series(np.random.default_rng(seed).normal(0.0005, 0.01, len(dates)), index=dates)


def weights_table(holdings: Sequence[Holding]) -> pd.DataFrame:
    rows = [{
        "symbol": symbol, "atom": f"{symbol}|buy_and_hold|{direction}", "weight": weight,
        "net_weight": -weight if direction == "short" else weight, "direction": direction,
        "cluster": "c01", "risk_contribution": weight,
    } for symbol, direction, weight in holdings]
    return pd.DataFrame(rows)


def sleeve(store, name: str, returns: pd.Series | None = None, holdings: Sequence[Holding] = ()) -> SleeveResult:
    artifacts = {}
    if returns is not None:
        artifacts["backtest_returns"] = put_series(store, returns, "return")
    if holdings:
        artifacts["weights"] = put_frame(store, weights_table(holdings))
    return SleeveResult(name=name, profile=f"{name}_profile", run_id=f"meta-test.{name}", status="succeeded", artifacts=artifacts)


def meta_context(results: Sequence[SleeveResult], bounds: dict[str, tuple[float, float]] | None = None, **fields) -> MetaContext:
    bounds = bounds or {}
    specs = [
        SleeveSpec(name=r.name, profile=r.profile, min_weight=bounds.get(r.name, (0.0, 1.0))[0], max_weight=bounds.get(r.name, (0.0, 1.0))[1])
        for r in results
    ]
    return MetaContext(run_id="meta-test", meta_profile="hand_built", sleeves=specs, sleeve_results=list(results), **fields)


def store_of(sdk):
    return sdk.home.artifact_store()


# -- meta.returns ----------------------------------------------------------------------------


def test_weekend_and_holiday_returns_are_compounded_into_the_next_common_day(sdk):
    crypto, equity = seven_day_stream(), weekday_stream()
    store = store_of(sdk)
    # the equity sleeve first: the columns come out by sleeve name all the same
    context = meta_context([sleeve(store, "equity", equity), sleeve(store, "crypto", crypto)])
    output = sdk.run_stage("meta.returns", context=context).context
    aligned = get_frame(store, output.meta_returns)

    assert list(aligned.columns) == ["crypto", "equity"]
    assert list(aligned.index) == list(equity.index)  # the common calendar is the weekday one here
    pd.testing.assert_series_equal(aligned["equity"], equity, check_names=False, check_freq=False, check_exact=True)

    monday = (1 + crypto[utc("2024-01-06")]) * (1 + crypto[utc("2024-01-07")]) * (1 + crypto[utc("2024-01-08")]) - 1
    assert aligned.at[utc("2024-01-08"), "crypto"] == pytest.approx(monday, rel=1e-14, abs=1e-17)
    after_holiday = np.prod(1 + crypto[utc("2024-01-13") : utc("2024-01-16")].to_numpy()) - 1
    assert aligned.at[utc("2024-01-16"), "crypto"] == pytest.approx(after_holiday, rel=1e-14, abs=1e-17)
    plain_days = [d for d in aligned.index if d not in (utc("2024-01-08"), utc("2024-01-16"))]
    assert (aligned.loc[plain_days, "crypto"] == crypto[plain_days]).all()

    # nothing inside the common span is dropped: the growth over it is the same
    inside = crypto[utc("2024-01-02") : utc("2024-01-19")]
    assert np.prod(1 + aligned["crypto"].to_numpy()) == pytest.approx(np.prod(1 + inside.to_numpy()), rel=1e-14)

    event = [e for e in output.audit_trail if e.stage_id == "meta.returns"][-1]
    assert event.code == "aligned"
    assert event.message == "2 sleeves on 13 common dates"
    # crypto folds in two weekends and the holiday (5 returns); Jan 1, 20 and 21 lie outside
    assert event.data == {"compounded": {"crypto": 5, "equity": 0}, "outside_common_span": {"crypto": 3, "equity": 0}}


def test_sleeves_whose_out_of_sample_periods_do_not_overlap_are_a_data_error(sdk):
    store = store_of(sdk)
    later = seven_day_stream().set_axis(seven_day_stream().index + pd.Timedelta(days=60))
    context = meta_context([sleeve(store, "early", seven_day_stream()), sleeve(store, "late", later)])
    with pytest.raises(StageFailedError) as failure:
        sdk.run_stage("meta.returns", context=context)
    cause = failure.value.__cause__
    assert isinstance(cause, DataValidationError) and cause.rule == "no-overlap"
    assert "early: 2024-01-01 to 2024-01-21; late: 2024-03-01 to 2024-03-21" in str(cause)


# -- meta.optimize ---------------------------------------------------------------------------


@pytest.fixture
def three_sleeve_returns() -> pd.DataFrame:
    """Independent sleeves with daily volatility 1%, 2% and 4%: inverse volatility would give
    them about 4/7, 2/7 and 1/7; minimum variance about 16/21, 4/21 and 1/21."""
    rng = np.random.default_rng(11)
    dates = pd.date_range("2024-01-01", periods=250, freq="D", tz="UTC", name="date")
    return pd.DataFrame({name: rng.normal(0.0005, vol, len(dates)) for name, vol in (("a", 0.01), ("b", 0.02), ("c", 0.04))}, index=dates)


TRAIN, REBALANCE = 100, 30


def run_meta_optimize(sdk, returns: pd.DataFrame, bounds: dict[str, tuple[float, float]], **params):
    store = store_of(sdk)
    results = [sleeve(store, name) for name in returns.columns]
    context = meta_context(results, bounds, meta_returns=put_frame(store, returns))
    params = {"covariance": "sample", "train": TRAIN, "rebalance": REBALANCE, **params}
    return sdk.run_stage("meta.optimize", context=context, params=params).context


def optimize_event(context):
    return [e for e in context.audit_trail if e.stage_id == "meta.optimize"][-1]


def test_distinct_sleeve_bounds_are_met_by_projection(sdk, three_sleeve_returns):
    """a is capped at 0.4 and c floored at 0.25; the projection keeps the free sleeve b at the
    rest: 1 - 0.4 - 0.25 = 0.35, in the current weights and at every rebalance."""
    output = run_meta_optimize(sdk, three_sleeve_returns, {"a": (0.0, 0.4), "c": (0.25, 1.0)}, engine="inverse_volatility")
    assert output.meta_weights == pytest.approx({"a": 0.4, "b": 0.35, "c": 0.25}, abs=1e-12)
    history = get_frame(store_of(sdk), output.artifacts["meta_weight_history"])
    np.testing.assert_allclose(history.to_numpy(), np.tile([0.4, 0.35, 0.25], (len(history), 1)), atol=1e-12)
    event = optimize_event(output)
    assert event.data["projected"] is True and event.data["engine"] == "inverse_volatility"
    assert event.message.startswith("walk-forward inverse_volatility across 3 sleeves: 5 rebalances every 30 dates")
    assert event.message.endswith("(projected onto sleeve bounds)")


def test_equal_sleeve_bounds_go_into_the_engine(sdk, three_sleeve_returns):
    """Minimum variance inside [0.2, 0.45] holds a and c at their bounds and b at 0.35; projecting
    the unbounded answer (16/21, 4/21, 1/21) onto the same box would give c about 0.204."""
    returns = three_sleeve_returns
    output = run_meta_optimize(sdk, returns, {n: (0.2, 0.45) for n in returns.columns}, engine="min_variance")
    latest = returns.iloc[-TRAIN:]
    expected = optimize(
        "min_variance", cov=covariance(latest, "sample", periods_per_year(latest)), bounds=WeightBounds(min_weight=0.2, max_weight=0.45)
    ).weights
    assert output.meta_weights == pytest.approx(expected.to_dict(), abs=1e-12)
    assert output.meta_weights == pytest.approx({"a": 0.45, "b": 0.35, "c": 0.2}, abs=1e-7)
    event = optimize_event(output)
    assert event.data["projected"] is False and event.data["engine"] == "min_variance"
    assert "(projected" not in event.message


def test_each_meta_rebalance_weighs_the_sleeves_on_the_returns_before_it_alone(sdk, three_sleeve_returns):
    """Issue 16, point 2: rebalance k is the engine on common dates [30k, 30k + 100) and nothing
    else; the meta-portfolio starts trading the day after the first train window."""
    returns = three_sleeve_returns
    output = run_meta_optimize(sdk, returns, {}, engine="inverse_volatility")
    store = store_of(sdk)
    history = get_frame(store, output.artifacts["meta_weight_history"])
    meta = get_frame(store, output.artifacts["meta_portfolio_returns"])["return"]
    assert list(history.index) == list(returns.index[TRAIN::REBALANCE])  # the last window is partial
    for k, (_, row) in enumerate(history.iterrows()):
        train = returns.iloc[k * REBALANCE : k * REBALANCE + TRAIN]
        expected = optimize("inverse_volatility", cov=covariance(train, "sample", periods_per_year(train))).weights
        np.testing.assert_array_equal(row.to_numpy(), expected.reindex(history.columns).to_numpy())
    assert list(meta.index) == list(returns.index[TRAIN:])
    # the current weights come from the latest train window, not from any rebalance
    latest = returns.iloc[-TRAIN:]
    current = optimize("inverse_volatility", cov=covariance(latest, "sample", periods_per_year(latest))).weights
    assert output.meta_weights == current.to_dict()


def test_sleeve_returns_after_t_change_no_meta_weight_or_return_up_to_t(sdk, three_sleeve_returns):
    """Issue 16, point 2: doubling sleeve c's returns from date 180 on leaves every rebalance
    decided up to it and every meta return before it bit for bit (it used to move them all)."""
    changed = three_sleeve_returns.copy()
    t = 180
    changed.iloc[t:, 2] *= 2.0
    store = store_of(sdk)
    first = run_meta_optimize(sdk, three_sleeve_returns, {}, engine="risk_parity")
    second = run_meta_optimize(sdk, changed, {}, engine="risk_parity")
    weights, weights_changed = (get_frame(store, c.artifacts["meta_weight_history"]) for c in (first, second))
    decided = weights.index <= three_sleeve_returns.index[t - 1]
    assert decided.sum() == 3
    pd.testing.assert_frame_equal(weights[decided], weights_changed[decided], check_exact=True)
    assert not np.allclose(weights[~decided].to_numpy(), weights_changed[~decided].to_numpy())
    meta, meta_changed = (get_frame(store, c.artifacts["meta_portfolio_returns"])["return"] for c in (first, second))
    before = meta.index < three_sleeve_returns.index[t]
    pd.testing.assert_series_equal(meta[before], meta_changed[before], check_exact=True)


def test_moving_between_sleeves_costs_cost_bps_of_the_turnover_on_rebalance_dates(sdk, three_sleeve_returns):
    store = store_of(sdk)
    free = run_meta_optimize(sdk, three_sleeve_returns, {}, engine="risk_parity", cost_bps=0.0)
    dear = run_meta_optimize(sdk, three_sleeve_returns, {}, engine="risk_parity", cost_bps=25.0)
    gap = (get_frame(store, free.artifacts["meta_portfolio_returns"])["return"]
           - get_frame(store, dear.artifacts["meta_portfolio_returns"])["return"])
    history = get_frame(store, free.artifacts["meta_weight_history"])
    rebalance = gap.index.isin(history.index)
    assert (gap[~rebalance] == 0.0).all()
    assert gap.iloc[0] == pytest.approx(25e-4, rel=1e-12)  # the first rebalance buys every sleeve
    assert (gap[rebalance].iloc[1:] > 0).all()
    assert optimize_event(dear).data["total_costs"] == pytest.approx(gap[rebalance].sum(), rel=1e-9)


def test_a_meta_window_where_a_sleeve_held_cash_throughout_weighs_the_sleeves_equally(sdk, three_sleeve_returns):
    """Sleeve c held cash (returns 0) for its first 110 dates: the first meta window cannot
    estimate its risk and weighs the sleeves equally (within the bounds), on the record; the
    next windows, which see c trade, use the engine."""
    returns = three_sleeve_returns.copy()
    returns.iloc[:110, 2] = 0.0
    output = run_meta_optimize(sdk, returns, {"a": (0.0, 0.3)}, engine="risk_parity")
    history = get_frame(store_of(sdk), output.artifacts["meta_weight_history"])
    np.testing.assert_allclose(history.iloc[0].to_numpy(), [0.3, 0.35, 0.35], atol=1e-12)
    assert not np.allclose(history.iloc[1].to_numpy(), [0.3, 0.35, 0.35])
    (warning,) = [e for e in output.audit_trail if e.code == "equal-weight-window"]
    assert warning.level == "warning" and warning.data["train_end"] == returns.index[TRAIN - 1].isoformat()
    assert "zero variance" in warning.data["reason"] and "'c'" in warning.data["reason"]
    assert optimize_event(output).data["equal_weight_windows"] == 1


def test_sleeve_history_shorter_than_the_meta_train_window_is_a_data_error(sdk, three_sleeve_returns):
    with pytest.raises(StageFailedError) as failure:
        run_meta_optimize(sdk, three_sleeve_returns.iloc[:TRAIN], {})
    cause = failure.value.__cause__
    assert isinstance(cause, DataValidationError) and cause.rule == "too-short"
    assert f"{TRAIN} common dates of sleeve returns are too few for a meta train window of {TRAIN}" in str(cause)


@pytest.mark.parametrize(
    "bounds",
    [
        {"a": (0.5, 1.0), "b": (0.4, 1.0), "c": (0.3, 1.0)},  # distinct: the projection refuses
        {"a": (0.4, 1.0), "b": (0.4, 1.0), "c": (0.4, 1.0)},  # equal: the engine refuses
    ],
    ids=["distinct", "equal"],
)
def test_sleeve_minimums_summing_above_one_are_a_clear_parameter_error(sdk, three_sleeve_returns, bounds):
    with pytest.raises(StageFailedError) as failure:
        run_meta_optimize(sdk, three_sleeve_returns, bounds, engine="risk_parity")
    assert failure.value.stage_id == "meta.optimize"
    cause = failure.value.__cause__
    assert isinstance(cause, ParamValidationError)
    assert re.search(r"1\.2\b", str(cause)) and "infeasible" in str(cause)


# -- meta.flatten ----------------------------------------------------------------------------


def test_long_and_short_holdings_of_one_asset_net_out_across_sleeves(sdk):
    store = store_of(sdk)
    results = [
        sleeve(store, "long_book", holdings=[("X:BTC", "long", 0.75), ("X:ETH", "long", 0.25)]),
        sleeve(store, "short_book", holdings=[("X:BTC", "short", 0.5), ("X:SOL", "long", 0.5)]),
    ]
    context = meta_context(results, meta_weights={"long_book": 0.5, "short_book": 0.5})
    output = sdk.run_stage("meta.flatten", context=context).context
    flat = get_frame(store, output.flattened_weights)

    assert list(flat["symbol"]) == ["X:BTC", "X:ETH", "X:SOL"]
    assert list(flat["net_weight"]) == [0.375 - 0.25, 0.125, 0.25]
    assert list(flat["gross_weight"]) == [0.375 + 0.25, 0.125, 0.25]
    assert list(flat["direction"]) == ["long", "long", "long"]
    assert list(flat["n_sleeves"]) == [2, 1, 1]
    assert json.loads(flat.at[0, "contributors"]) == [
        {"sleeve": "long_book", "sleeve_weight": 0.5, "net_weight": 0.75, "contribution": 0.375},
        {"sleeve": "short_book", "sleeve_weight": 0.5, "net_weight": -0.5, "contribution": -0.25},
    ]
    assert output.artifacts["flattened_weights"] == output.flattened_weights


def test_equal_and_opposite_holdings_net_to_a_flat_asset_that_keeps_its_contributors(sdk):
    store = store_of(sdk)
    results = [
        sleeve(store, "bull", holdings=[("X:BTC", "long", 0.5), ("X:ETH", "long", 0.5)]),
        sleeve(store, "bear", holdings=[("X:BTC", "short", 0.75), ("X:ETH", "short", 0.25)]),
    ]
    # 0.6 x 0.5 = 0.3 long against 0.4 x 0.75 = 0.3 short
    context = meta_context(results, meta_weights={"bull": 0.6, "bear": 0.4})
    flat = get_frame(store, sdk.run_stage("meta.flatten", context=context).context.flattened_weights).set_index("symbol")
    assert flat.at["X:BTC", "net_weight"] == pytest.approx(0.0, abs=1e-16)
    assert flat.at["X:BTC", "gross_weight"] == pytest.approx(0.6, rel=1e-15)
    assert [c["sleeve"] for c in json.loads(flat.at["X:BTC", "contributors"])] == ["bear", "bull"]
    assert flat.at["X:ETH", "net_weight"] == pytest.approx(0.6 * 0.5 - 0.4 * 0.25, rel=1e-15)


def test_flatten_without_meta_weights_is_a_data_error(sdk):
    store = store_of(sdk)
    context = meta_context([sleeve(store, "only", holdings=[("X:BTC", "long", 1.0)])])
    with pytest.raises(StageFailedError) as failure:
        sdk.run_stage("meta.flatten", context=context)
    assert isinstance(failure.value.__cause__, DataValidationError)
    assert failure.value.__cause__.rule == "missing-input"


# -- meta.report -----------------------------------------------------------------------------

REPORT_TITLE = "Crypto & equities <test>"


REPORT_SCHEDULE = {"train": 40, "rebalance": 20, "cost_bps": 10.0}
#: 2024-01-02 to 2024-06-28: 128 common weekday dates; the meta-portfolio trades the last 88.
REPORT_END = "2024-06-28"


@pytest.fixture
def reported(sdk):
    """meta.returns -> meta.optimize -> meta.flatten -> meta.report on two hand-built sleeves."""
    store = store_of(sdk)
    results = [
        sleeve(store, "crypto", seven_day_stream(end="2024-06-30"), holdings=[("X:BTC", "long", 0.6), ("X:ETH", "short", 0.4)]),
        sleeve(store, "equity", weekday_stream(end=REPORT_END), holdings=[("NYSE:IBM", "long", 0.7), ("X:BTC", "long", 0.3)]),
    ]
    context = meta_context(results, {"crypto": (0.2, 0.6), "equity": (0.3, 0.8)})
    context = sdk.run_stage("meta.returns", context=context).context
    context = sdk.run_stage("meta.optimize", context=context, params={"engine": "equal_weight", **REPORT_SCHEDULE}).context
    context = sdk.run_stage("meta.flatten", context=context).context
    # the report past 1 KB rides as an artifact: read it back whole, as the CLI does
    return sdk.expanded(sdk.run_stage("meta.report", context=context, params={"title": REPORT_TITLE, "top_assets": 3}).context)


def meta_period(sdk, reported) -> tuple[pd.DataFrame, pd.Series]:
    """The aligned sleeve returns over the meta-portfolio's period, and its returns."""
    store = store_of(sdk)
    meta = get_frame(store, reported.artifacts["meta_portfolio_returns"])["return"]
    return get_frame(store, reported.meta_returns).loc[meta.index], meta


def test_report_field_holds_the_metrics_sleeves_and_top_assets(sdk, reported):
    sleeves, meta_series = meta_period(sdk, reported)
    assert len(get_frame(store_of(sdk), reported.meta_returns)) == 128 and len(sleeves) == 88
    assert reported.meta_weights == {"crypto": 0.5, "equity": 0.5}
    # walk-forward with equal weights: the first day buys both sleeves at 10 bp, then they drift
    first = 0.5 * sleeves["crypto"].iloc[0] + 0.5 * sleeves["equity"].iloc[0] - 10e-4
    assert meta_series.iloc[0] == pytest.approx(first, rel=1e-12)
    meta = meta_series.to_numpy()
    report = reported.report
    metrics = report["metrics"]
    # weekday common calendar: 252 periods a year
    assert metrics["periods"] == 88
    assert metrics["total_return"] == pytest.approx(np.prod(1 + meta) - 1, rel=1e-12)
    assert metrics["sharpe"] == pytest.approx(meta.mean() / meta.std(ddof=1) * math.sqrt(252), rel=1e-12)
    assert metrics["annualized_volatility"] == pytest.approx(meta.std(ddof=1) * math.sqrt(252), rel=1e-12)
    assert [(s["name"], s["weight"]) for s in report["sleeves"]] == [("crypto", 0.5), ("equity", 0.5)]
    crypto = sleeves["crypto"].to_numpy()  # the sleeves over the same period as the meta-portfolio
    assert report["sleeves"][0]["metrics"]["sharpe"] == pytest.approx(crypto.mean() / crypto.std(ddof=1) * math.sqrt(252), rel=1e-12)
    # BTC nets 0.5 x 0.6 + 0.5 x 0.3; ETH is short 0.5 x 0.4; IBM long 0.5 x 0.7
    assert report["top_assets"] == [
        {"symbol": "X:BTC", "net_weight": pytest.approx(0.45, rel=1e-15), "direction": "long", "sleeves": 2},
        {"symbol": "NYSE:IBM", "net_weight": pytest.approx(0.35, rel=1e-15), "direction": "long", "sleeves": 1},
        {"symbol": "X:ETH", "net_weight": pytest.approx(-0.2, rel=1e-15), "direction": "short", "sleeves": 1},
    ]
    assert report["period"] == {
        "start": sleeves.index[0].isoformat(), "end": f"{REPORT_END}T00:00:00+00:00", "dates": 88,
    }
    assert report["meta_schedule"] == {**REPORT_SCHEDULE, "rebalances": 5}
    assert reported.artifacts["report_html"] == ArtifactRef.model_validate(report["html"])
    assert reported.artifacts["report_markdown"] == ArtifactRef.model_validate(report["markdown"])


def test_html_report_is_self_contained(sdk, reported):
    page = store_of(sdk).get(reported.artifacts["report_html"]).decode()
    assert reported.artifacts["report_html"].media_type == "text/html"
    sources = re.findall(r"""<img[^>]*\ssrc=["']([^"']*)["']""", page)
    assert len(sources) == 5 == page.count("<img")
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1], validate=True).startswith(PNG_SIGNATURE)
    lowered = page.lower()
    for external in ("http:", "https:", "<script", "<link", "@import", "url(", "src=\"//", "href="):
        assert external not in lowered, external
    assert f"<title>{REPORT_TITLE.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</title>" in page

    assert "<h2>Metrics</h2>" in page
    header = re.search(r"<h2>Metrics</h2><table><thead><tr>(.*?)</tr>", page).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == [
        "portfolio", "CAGR", "Volatility", "Sharpe", "Sortino", "Max drawdown", "Calmar", "Hit rate",
    ]
    volatility = reported.report["metrics"]["annualized_volatility"]
    cells = re.sub(r"<td[^>]*>", "<td>", page)  # compare contents, whatever the cell styling
    assert f"<tr><td>meta-portfolio</td><td>{reported.report['metrics']['cagr']:.4f}</td><td>{volatility:.4f}</td>" in cells
    for name in ("crypto", "equity"):
        assert f"<tr><td>{name}</td>" in cells  # a metrics row
        assert f"<tr><td>{name}</td><td>0.5000</td></tr>" in cells  # its weight
    for title in ("Cumulative returns", "Drawdown", "Sleeve weights", "Top asset weights", "Sleeve correlation"):
        assert f"<h2>{title}</h2>" in page


def test_markdown_report_has_the_same_tables(sdk, reported):
    ref = reported.artifacts["report_markdown"]
    assert ref.media_type == "text/markdown"
    markdown = store_of(sdk).get(ref).decode()
    assert markdown.startswith(f"# {REPORT_TITLE}\n")
    start = reported.report["period"]["start"][:10]
    assert f"Profile `hand_built`; out-of-sample period {start} to {REPORT_END} (88 common dates)." in markdown
    assert ("the meta-portfolio re-estimates its sleeve weights every 20 dates from the previous 40 dates of "
            "sleeve returns (5 rebalances) and pays 10 bp on the turnover between sleeves") in markdown
    metrics = reported.report["metrics"]
    row = f"| meta-portfolio | {metrics['cagr']:.4f} | {metrics['annualized_volatility']:.4f} | {metrics['sharpe']:.4f} |"
    assert row in markdown
    assert "| crypto | 0.5000 |" in markdown and "| equity | 0.5000 |" in markdown
    assert "| X:BTC | 0.4500 | long | 2 |" in markdown
    assert "| X:ETH | -0.2000 | short | 1 |" in markdown
