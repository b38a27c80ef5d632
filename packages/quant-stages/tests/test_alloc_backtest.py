"""allocation.backtest through the SDK on small hand-built markets written to files: no
look-ahead, costs, out-of-sample metrics, cash windows and too-short data.

The walk-forward kernel has its own tests; these prove that the stage re-runs the selection and
the allocation on each train window alone and stitches only the test windows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from quant_core.errors import DataValidationError, StageFailedError
from quant_stages.frames import get_frame

N_DAYS, TRAIN, TEST = 400, 100, 50
N_WINDOWS = (N_DAYS - TRAIN) // TEST
SYMBOLS = tuple(f"X:S{i}" for i in range(5))
#: Permutation entropy of order 5 needs 5! windows; the 100-day train windows use order 3.
SHORT_WINDOW_FEATURES = {"entropy_order": 3}


def independent_returns(dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Five independent assets, daily volatility 1% to 2.2%: each one its own cluster."""
    rng = np.random.default_rng(5)
    return pd.DataFrame({s: rng.normal(0.0005, 0.01 * (1 + 0.3 * i), len(dates)) for i, s in enumerate(SYMBOLS)}, index=dates)


@pytest.fixture
def market(kit):
    returns = independent_returns(kit.dates(N_DAYS))
    return kit.Market([kit.candidate(s) for s in SYMBOLS], returns)


def run_backtest(sdk, files, *, stages=None, ingestion=None, policy=None, allocation=None, **backtest):
    return sdk.run_pipeline("portfolio.full", stages=stages, params={
        "selection.ingestion": {**files.params, **(ingestion or {})},
        "selection.features": SHORT_WINDOW_FEATURES,
        "selection.policy": {"top_n_per_cluster": 3, **(policy or {})},
        "allocation.optimize": {"engine": "inverse_volatility", "max_weight": 0.4, **(allocation or {})},
        "allocation.backtest": {"train": TRAIN, "test": TEST, "cost_bps": 10.0, **backtest},
    }).context


def artifact(sdk, context, name) -> pd.DataFrame:
    return get_frame(sdk.home.artifact_store(), context.artifacts[name])


def test_a_window_weights_ignore_every_return_after_its_train_end(sdk, kit, market):
    """Window k = 2 trains on rows 100..199. A second file changes one asset's returns from row
    200 on: windows 0..2 keep bitwise the same weights, windows 3..5 (whose train windows hold
    changed rows) do not."""
    k = 2
    first_changed = k * TEST + TRAIN
    changed = market.returns.copy()
    changed.iloc[first_changed:, 0] *= 2.0  # twice as volatile: inverse-volatility weights must move
    original = run_backtest(sdk, kit.write(market, name="original"))
    altered = run_backtest(sdk, kit.write(kit.Market(market.candidates, changed), name="altered"))

    weights, weights_altered = artifact(sdk, original, "backtest_weights"), artifact(sdk, altered, "backtest_weights")
    test_starts = market.returns.index[TRAIN::TEST][:N_WINDOWS]
    assert list(weights.index) == list(test_starts) == list(weights_altered.index)
    assert list(weights.columns) == list(SYMBOLS)
    pd.testing.assert_frame_equal(weights.iloc[: k + 1], weights_altered.iloc[: k + 1], check_exact=True)
    for later in range(k + 1, N_WINDOWS):
        assert not np.allclose(weights.iloc[later], weights_altered.iloc[later]), later
    # the test days before the change were traded with the same weights on the same returns
    stitched, stitched_altered = artifact(sdk, original, "backtest_returns"), artifact(sdk, altered, "backtest_returns")
    before = stitched.index < market.returns.index[first_changed]
    assert before.sum() == first_changed - TRAIN
    pd.testing.assert_frame_equal(stitched[before], stitched_altered[before], check_exact=True)
    # the weights are real, long-only, fully invested allocations
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert (weights.to_numpy() > 0).all()


def test_a_window_weights_are_the_allocation_of_its_train_rows_alone(sdk, kit, market):
    """Window 2's row equals allocation.optimize run on rows 100..199 of the file (ingestion's
    start/end), so each window sees exactly its own train rows."""
    files = kit.write(market)
    backtest = run_backtest(sdk, files)
    window = 2
    train_dates = market.returns.index[window * TEST : window * TEST + TRAIN]
    alone = run_backtest(
        sdk, files, stages=["selection.ingestion", "selection.features", "selection.inference", "selection.clustering",
                            "selection.policy", "selection.synthesis", "allocation.optimize"],
        ingestion={"start": train_dates[0].isoformat(), "end": train_dates[-1].isoformat()},
    )
    table = get_frame(sdk.home.artifact_store(), alone.weights)
    expected = table.groupby("symbol")["net_weight"].sum().reindex(list(SYMBOLS))
    row = artifact(sdk, backtest, "backtest_weights").iloc[window]
    np.testing.assert_array_equal(row.to_numpy(), expected.to_numpy())


def _turnovers(weights: pd.DataFrame, returns: pd.DataFrame) -> np.ndarray:
    """Each rebalance's turnover computed from scratch: the first from cash, each later one from
    the previous target weights after drifting with the previous test window's returns."""
    turnovers = []
    previous = None
    for k, (start, target) in enumerate(weights.iterrows()):
        if previous is None:
            turnovers.append(np.abs(target.to_numpy()).sum())
        else:
            window = returns.iloc[TRAIN + (k - 1) * TEST : TRAIN + k * TEST]
            holdings = previous.to_numpy() * (1.0 + window.to_numpy()).prod(axis=0)
            drifted = holdings / (holdings.sum() + 1.0 - previous.sum())
            turnovers.append(np.abs(target.to_numpy() - drifted).sum())
        previous = target
    return np.array(turnovers)


def test_doubling_cost_bps_lowers_the_rebalance_days_by_exactly_the_extra_cost(sdk, kit, market):
    files = kit.write(market)
    cheap = run_backtest(sdk, files, cost_bps=10.0)
    dear = run_backtest(sdk, files, cost_bps=20.0)
    weights = artifact(sdk, cheap, "backtest_weights")
    pd.testing.assert_frame_equal(weights, artifact(sdk, dear, "backtest_weights"), check_exact=True)

    gap = artifact(sdk, cheap, "backtest_returns")["return"] - artifact(sdk, dear, "backtest_returns")["return"]
    rebalance = gap.index.isin(weights.index)
    assert rebalance.sum() == N_WINDOWS
    assert (gap[~rebalance] == 0.0).all()
    extra_cost = _turnovers(weights, market.returns) * 10.0 / 1e4
    np.testing.assert_allclose(gap[rebalance].to_numpy(), extra_cost, rtol=1e-9, atol=1e-15)
    assert extra_cost[0] == pytest.approx(1e-3, abs=1e-15)  # the first rebalance buys the whole book
    assert dear.backtest["total_costs"] == pytest.approx(2 * cheap.backtest["total_costs"], rel=1e-12)
    assert cheap.backtest["total_turnover"] == pytest.approx(extra_cost.sum() * 1e3, rel=1e-9)


def test_metrics_come_from_the_stitched_out_of_sample_returns_only(sdk, kit, market):
    context = run_backtest(sdk, kit.write(market))
    stitched = artifact(sdk, context, "backtest_returns")["return"]
    dates = market.returns.index
    # the first train window is never traded: the stitched run starts the day after it
    assert list(stitched.index) == list(dates[TRAIN : TRAIN + N_WINDOWS * TEST])
    summary = context.backtest
    values = stitched.to_numpy()
    assert summary["start"] == dates[TRAIN].isoformat() and summary["end"] == dates[TRAIN + N_WINDOWS * TEST - 1].isoformat()
    assert summary["periods"] == len(values) == 300
    assert summary["periods_per_year"] == 365.0
    assert summary["windows"] == N_WINDOWS and summary["cash_windows"] == 0 and summary["cost_bps"] == 10.0
    growth = float(np.prod(1.0 + values))
    assert summary["total_return"] == pytest.approx(growth - 1.0, rel=1e-12)
    assert summary["cagr"] == pytest.approx(growth ** (365 / 300) - 1.0, rel=1e-12)
    assert summary["sharpe"] == pytest.approx(values.mean() / values.std(ddof=1) * math.sqrt(365), rel=1e-12)
    assert summary["annualized_volatility"] == pytest.approx(values.std(ddof=1) * math.sqrt(365), rel=1e-12)


@pytest.fixture
def late_listing_market(kit):
    """Two assets from the start, three listed on day 150 (NaN before: not yet listed). With a
    60-day history floor the early train windows select two assets, too few for max_weight 0.3."""
    returns = independent_returns(kit.dates(N_DAYS))
    returns.loc[returns.index[:150], ["X:S2", "X:S3", "X:S4"]] = np.nan
    return kit.Market([kit.candidate(s) for s in SYMBOLS], returns)


def test_a_window_with_too_few_positions_for_the_cap_holds_cash_and_says_so(sdk, kit, late_listing_market):
    context = run_backtest(
        sdk, kit.write(late_listing_market), policy={"min_history": 60}, allocation={"max_weight": 0.3},
    )
    dates = late_listing_market.returns.index
    # windows 0..2 train on rows 0..199 at the latest: the late assets have at most 50 days there
    cash = 3
    events = [e for e in context.audit_trail if e.code == "cash-window"]
    assert [e.data["train_end"] for e in events] == [dates[TRAIN - 1 + k * TEST].isoformat() for k in range(cash)]
    for event in events:
        assert event.stage_id == "allocation.backtest" and event.level == "warning"
        assert "max_weight 0.3 is infeasible for 2 assets" in event.data["reason"]
        assert event.message.startswith(f"window ending {event.data['train_end']} held cash")
    assert context.backtest["cash_windows"] == cash and context.backtest["windows"] == N_WINDOWS

    weights = artifact(sdk, context, "backtest_weights")
    assert (weights.iloc[:cash].to_numpy() == 0.0).all()
    np.testing.assert_allclose(weights.iloc[cash:].sum(axis=1), 1.0, atol=1e-12)
    assert (weights.iloc[cash:].to_numpy() <= 0.3 + 1e-9).all()
    stitched = artifact(sdk, context, "backtest_returns")["return"]
    assert (stitched.iloc[: cash * TEST] == 0.0).all()  # cash earns nothing and costs nothing
    assert (stitched.iloc[cash * TEST :] != 0.0).all()


def test_data_shorter_than_train_plus_test_is_a_data_error(sdk, kit, market):
    short = kit.Market(market.candidates, market.returns.iloc[: TRAIN + TEST - 1])
    with pytest.raises(StageFailedError) as failure:
        run_backtest(sdk, kit.write(short))
    assert failure.value.stage_id == "allocation.backtest"
    cause = failure.value.__cause__
    assert isinstance(cause, DataValidationError)
    assert cause.rule == "too-short"
    assert f"{TRAIN + TEST - 1} trading dates are fewer than train + test = {TRAIN + TEST}" in str(cause)


def test_an_asset_that_turns_gappy_later_keeps_its_weights_in_the_windows_before(sdk, kit, market):
    """Issue 16, point 1: X:S0 misses 40% of its days after day 250. The four windows trained
    before day 250 must allocate exactly as if nothing happened later (the coverage rule is the
    policy's, decided on each train window alone), and hold X:S0; later windows may drop it."""
    gappy = market.returns.copy()
    rows = np.random.default_rng(3).choice(np.arange(250, N_DAYS), size=int(0.4 * (N_DAYS - 250)), replace=False)
    gappy.iloc[rows, 0] = np.nan
    clean = run_backtest(sdk, kit.write(market, name="clean"))
    later_gaps = run_backtest(sdk, kit.write(kit.Market(market.candidates, gappy), name="gappy"))

    weights, weights_gappy = artifact(sdk, clean, "backtest_weights"), artifact(sdk, later_gaps, "backtest_weights")
    before = (250 - TRAIN) // TEST + 1  # windows whose train rows end at or before day 249
    assert before == 4
    pd.testing.assert_frame_equal(weights.iloc[:before], weights_gappy.iloc[:before], check_exact=True)
    assert (weights_gappy.iloc[:before]["X:S0"] > 0.2).all()
    universe = artifact(sdk, later_gaps, "backtest_universe")
    last = universe[universe["train_end"] == universe["train_end"].max()].set_index("symbol")
    assert last.at["X:S0", "status"] == "vetoed" and "coverage" in last.at["X:S0", "vetoes"].split(";")
    event = next(e for e in later_gaps.audit_trail if e.code == "universe")
    assert event.data["windows"] == N_WINDOWS and event.data["veto_reasons"]["coverage"] >= 1


def test_an_asset_delisted_later_is_in_the_universe_of_the_windows_before(sdk, kit, market):
    """An asset that stops trading on day 300 is investable in the windows trained before."""
    delisted = market.returns.copy()
    delisted.iloc[300:, 1] = np.nan
    clean = run_backtest(sdk, kit.write(market, name="clean"))
    gone = run_backtest(sdk, kit.write(kit.Market(market.candidates, delisted), name="gone"))
    before = (300 - TRAIN) // TEST + 1
    pd.testing.assert_frame_equal(
        artifact(sdk, clean, "backtest_weights").iloc[:before], artifact(sdk, gone, "backtest_weights").iloc[:before],
        check_exact=True,
    )


def test_a_held_asset_that_stops_trading_takes_the_delisting_loss_when_its_absence_is_known(sdk, kit, market):
    """Issue 16, point 3: X:S1 stops after day 229, inside window 2's test rows (200..249). On its
    fifth missing day (234) the holding loses 30% and the position is closed; nothing before
    changes, and the audit trail and summary say so. With delisting_return 0 the day is flat."""
    gone = market.returns.copy()
    gone.iloc[230:, 1] = np.nan
    files = kit.write(kit.Market(market.candidates, gone))
    lossy = run_backtest(sdk, files)
    flat = run_backtest(sdk, files, delisting_return=0.0)
    dates = market.returns.index
    returns, returns_flat = artifact(sdk, lossy, "backtest_returns")["return"], artifact(sdk, flat, "backtest_returns")["return"]
    pd.testing.assert_series_equal(returns[: dates[233]], returns_flat[: dates[233]], check_exact=True)

    (event,) = [e for e in lossy.audit_trail if e.code == "delisted"]
    (holding,) = event.data["holdings"]
    assert (holding["date"], holding["symbol"]) == (dates[234].isoformat(), "X:S1")
    assert event.level == "warning" and event.data["delisting_return"] == -0.3 and event.data["delisting_after"] == 5
    assert 0.1 < holding["weight"] < 0.4
    # that day the portfolio loses 30% of what the holding was worth the day before
    assert returns[dates[234]] == pytest.approx(returns_flat[dates[234]] - 0.3 * holding["weight"], abs=1e-15)
    assert lossy.backtest["delistings"] == 1 and lossy.backtest["delisting_return"] == -0.3
    # later windows no longer hold it: it is stale, vetoed at their train ends
    weights = artifact(sdk, lossy, "backtest_weights")
    assert (weights.loc[weights.index > dates[234], "X:S1"] == 0.0).all()
