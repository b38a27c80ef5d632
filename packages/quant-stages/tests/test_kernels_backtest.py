"""Walk-forward windows, one simulated window by hand, look-ahead and cost accounting."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels.backtest import delisting_flags, simulate_window, walk_forward, walk_forward_windows


def utc_days(n_rows: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n_rows, freq="D", tz="UTC")


def random_returns(n_rows: int, symbols: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(0.0005, 0.01, (n_rows, len(symbols))), index=utc_days(n_rows), columns=symbols)


def inverse_volatility_allocator(train: pd.DataFrame) -> pd.Series:
    inverse = 1.0 / train.std()
    return inverse / inverse.sum()


# ---------------------------------------------------------------- windows


def test_windows_are_contiguous_and_never_overlap_train() -> None:
    index = utc_days(10)
    windows = walk_forward_windows(index, train=4, test=2)
    assert [(w.train_slice.start, w.test_slice.start) for w in windows] == [(0, 4), (2, 6), (4, 8)]
    first = windows[0]
    assert (first.train_start, first.train_end) == (index[0], index[3])
    assert (first.test_start, first.test_end) == (index[4], index[5])
    for window in windows:
        assert window.train_end < window.test_start
    for before, after in itertools.pairwise(windows):
        assert before.test_end < after.test_start


def test_step_larger_than_test_leaves_gaps_and_only_full_windows() -> None:
    windows = walk_forward_windows(utc_days(10), train=4, test=2, step=3)
    assert [(w.test_slice.start, w.test_slice.stop) for w in windows] == [(4, 6), (7, 9)]


def test_partial_last_trades_the_rows_after_the_last_full_window() -> None:
    windows = walk_forward_windows(utc_days(11), train=4, test=3, partial_last=True)
    assert [(w.test_slice.start, w.test_slice.stop) for w in windows] == [(4, 7), (7, 10), (10, 11)]
    assert windows[-1].train_slice == slice(6, 10)
    # fewer rows than train + test: one window of what is left after the train rows
    (only,) = walk_forward_windows(utc_days(6), train=4, test=3, partial_last=True)
    assert (only.test_slice.start, only.test_slice.stop) == (4, 6)
    whole = walk_forward_windows(utc_days(10), train=4, test=3, partial_last=True)
    assert [(w.test_slice.start, w.test_slice.stop) for w in whole] == [(4, 7), (7, 10)]  # nothing left over


@pytest.mark.parametrize(
    ("kwargs", "param", "fragment"),
    [
        ({"train": 4, "test": 3, "step": 2}, "step", "overlap"),
        ({"train": 4, "test": 2, "step": 3, "partial_last": True}, "step", "contiguous"),
        ({"train": 10, "test": 3, "partial_last": True}, "train", "10 + one row = 11 rows"),
        ({"train": 8, "test": 3}, "train", "8 + test 3 = 11 rows, but the index has only 10"),
        ({"train": 1, "test": 2}, "train", ">= 2"),
        ({"train": 4, "test": 0}, "test", ">= 1"),
        ({"train": 4.5, "test": 2}, "train", "integer"),
    ],
)
def test_window_lengths_are_validated(kwargs: dict, param: str, fragment: str) -> None:
    with pytest.raises(ParamValidationError) as info:
        walk_forward_windows(utc_days(10), **kwargs)
    assert info.value.param == param
    assert fragment in str(info.value)


def test_index_must_be_sorted_unique_utc() -> None:
    with pytest.raises(DataValidationError, match="UTC"):
        walk_forward_windows(pd.date_range("2024-01-01", periods=10, freq="D"), 4, 2)
    with pytest.raises(DataValidationError, match="sorted"):
        walk_forward_windows(utc_days(10)[::-1], 4, 2)
    with pytest.raises(DataValidationError, match="duplicate"):
        walk_forward_windows(utc_days(5).append(utc_days(5)), 4, 2)


# ---------------------------------------------------------------- one window by hand


def test_simulate_window_by_hand() -> None:
    # Target (0.5, 0.5) from cash: turnover 1, cost 1 x 10 bps = 0.001 on day 1.
    # Day 1: A +10%, B 0% -> holdings (0.55, 0.50), gross 5%, net 4.9%.
    # Day 2: A 0%, B +10% -> holdings (0.55, 0.55), gross 1.10 / 1.05 - 1.
    returns = pd.DataFrame({"A": [0.10, 0.0], "B": [0.0, 0.10]}, index=utc_days(2))
    result = simulate_window(pd.Series({"A": 0.5, "B": 0.5}), returns, None, cost_bps=10)
    assert result.turnover == 1.0
    assert result.cost == pytest.approx(0.001, abs=1e-18)
    np.testing.assert_allclose(result.gross_returns.to_numpy(), [0.05, 1.10 / 1.05 - 1], rtol=1e-14)
    np.testing.assert_allclose(result.returns.to_numpy(), [0.049, 1.10 / 1.05 - 1], rtol=1e-14)
    assert result.end_weights.to_dict() == pytest.approx({"A": 0.5, "B": 0.5}, abs=1e-15)


def test_turnover_is_measured_from_drifted_previous_weights() -> None:
    returns = pd.DataFrame({"A": [0.0], "B": [0.0], "C": [0.0]}, index=utc_days(1))
    previous = pd.Series({"A": 0.6, "B": 0.4})
    result = simulate_window(pd.Series({"A": 0.5, "C": 0.5}), returns, previous, cost_bps=20)
    # |0.5 - 0.6| + |0 - 0.4| + |0.5 - 0| = 1.0
    assert result.turnover == pytest.approx(1.0, abs=1e-15)
    assert result.cost == pytest.approx(0.002, abs=1e-15)


def test_non_trading_day_leaves_the_holding_unchanged() -> None:
    # B (an equity) does not trade on day 2 (NaN): its holding keeps its value that day.
    returns = pd.DataFrame({"A": [0.02, 0.04], "B": [0.01, np.nan]}, index=utc_days(2))
    result = simulate_window(pd.Series({"A": 0.5, "B": 0.5}), returns)
    # day 1 holdings (0.51, 0.505), value 1.015; day 2 (0.5304, 0.505), value 1.0354
    np.testing.assert_allclose(result.gross_returns.to_numpy(), [0.015, 1.0354 / 1.015 - 1], rtol=1e-13)
    assert result.end_weights["B"] == pytest.approx(0.505 / 1.0354, rel=1e-13)
    assert np.isnan(returns.iloc[1, 1])  # the input is not modified


def test_uninvested_weight_is_cash() -> None:
    returns = pd.DataFrame({"A": [0.10]}, index=utc_days(1))
    result = simulate_window(pd.Series({"A": 0.5}), returns)
    assert result.gross_returns.iloc[0] == pytest.approx(0.05, abs=1e-15)


def test_simulate_window_rejects_bad_input() -> None:
    returns = pd.DataFrame({"A": [0.1]}, index=utc_days(1))
    with pytest.raises(DataValidationError, match="no returns in the test window"):
        simulate_window(pd.Series({"A": 0.5, "Z": 0.5}), returns)
    with pytest.raises(ParamValidationError, match="cost_bps"):
        simulate_window(pd.Series({"A": 1.0}), returns, cost_bps=-1)
    with pytest.raises(DataValidationError, match="non-finite"):
        simulate_window(pd.Series({"A": np.nan}), returns)


# ---------------------------------------------------------------- walk forward


def test_no_look_ahead_changing_later_returns_keeps_earlier_weights() -> None:
    returns = random_returns(120, ["A", "B", "C"], seed=1)
    seen: list[pd.DatetimeIndex] = []

    def recording_allocator(train: pd.DataFrame) -> pd.Series:
        seen.append(train.index)
        return inverse_volatility_allocator(train)

    base = walk_forward(returns, train=40, test=20, allocate=recording_allocator, cost_bps=5)
    for window, train_index in zip(base.windows, seen, strict=True):
        assert train_index[0] == window.train_start and train_index[-1] == window.train_end
    k = 1
    cut = base.windows[k].train_end
    altered = returns.copy()
    altered.loc[altered.index > cut] *= 3.0
    changed = walk_forward(altered, train=40, test=20, allocate=inverse_volatility_allocator, cost_bps=5)
    for i in range(k + 1):
        assert changed.weights.iloc[i].equals(base.weights.iloc[i])
    assert not changed.weights.iloc[k + 1].equals(base.weights.iloc[k + 1])


def test_stitched_returns_are_out_of_sample_only() -> None:
    returns = random_returns(100, ["A", "B"], seed=2)
    result = walk_forward(returns, train=30, test=20, allocate=inverse_volatility_allocator)
    assert result.returns.index.equals(returns.index[30:90])
    assert list(result.weights.index) == [returns.index[30], returns.index[50], returns.index[70]]
    assert result.turnover.iloc[0] == pytest.approx(1.0, abs=1e-15)  # from cash


def test_doubling_cost_lowers_returns_by_the_extra_cost_on_rebalance_days_only() -> None:
    returns = random_returns(130, ["A", "B", "C", "D"], seed=3)
    cheap = walk_forward(returns, train=50, test=20, allocate=inverse_volatility_allocator, cost_bps=10)
    dear = walk_forward(returns, train=50, test=20, allocate=inverse_volatility_allocator, cost_bps=20)
    pd.testing.assert_series_equal(cheap.turnover, dear.turnover)
    difference = cheap.returns - dear.returns
    extra_cost = (cheap.turnover * 10 / 1e4).reindex(difference.index, fill_value=0.0)
    np.testing.assert_allclose(difference.to_numpy(), extra_cost.to_numpy(), atol=1e-16, rtol=0)
    assert (difference[~difference.index.isin(cheap.turnover.index)] == 0).all()
    np.testing.assert_allclose(dear.costs.to_numpy(), 2 * cheap.costs.to_numpy(), rtol=1e-15)
    assert (cheap.turnover.iloc[1:] > 0).all() and (cheap.turnover.iloc[1:] < 1).all()


def test_consecutive_windows_carry_the_drifted_book() -> None:
    # Constant 50/50 target; over the first test window A doubles, B is flat: the book drifts to
    # (2/3, 1/3), so the second rebalance trades |0.5 - 2/3| + |0.5 - 1/3| = 1/3.
    index = utc_days(4)
    returns = pd.DataFrame({"A": [0.0, 0.0, 1.0, 0.0], "B": [0.0, 0.0, 0.0, 0.0]}, index=index)
    result = walk_forward(returns, train=2, test=1, allocate=lambda train: pd.Series({"A": 0.5, "B": 0.5}), cost_bps=0)
    assert result.turnover.tolist() == pytest.approx([1.0, 1 / 3], abs=1e-15)


def test_gap_between_windows_restarts_from_cash() -> None:
    returns = random_returns(20, ["A", "B"], seed=4)
    result = walk_forward(returns, train=5, test=3, step=5, allocate=inverse_volatility_allocator)
    assert result.turnover.tolist() == pytest.approx([1.0] * len(result.windows), abs=1e-15)


def test_column_order_does_not_matter() -> None:
    returns = random_returns(90, ["C", "A", "B"], seed=5)
    first = walk_forward(returns, train=30, test=30, allocate=inverse_volatility_allocator, cost_bps=5)
    second = walk_forward(
        returns[["B", "C", "A"]], train=30, test=30, allocate=inverse_volatility_allocator, cost_bps=5
    )
    assert first.returns.equals(second.returns)
    assert first.weights.equals(second.weights)


# ---------------------------------------------------------------- delistings


def test_delisting_flags_count_the_dates_of_the_assets_own_calendar() -> None:
    """An equity stops after Friday 2024-01-05: weekends do not count, so its fifth missing
    weekday is Friday 2024-01-12; a crypto asset stopping on Saturday 6 is flagged on the 11th.
    An asset that never traded, or that traded again, is not flagged."""
    dates = pd.date_range("2024-01-01", periods=21, freq="D", tz="UTC")
    weekday = np.asarray(dates.day_of_week) < 5
    returns = pd.DataFrame({
        "NYSE:A": np.where(weekday, 0.01, np.nan), "NYSE:GONE": np.where(weekday, 0.01, np.nan),
        "X:B": 0.01, "X:GONE": 0.01, "X:HALT": 0.01, "X:NEW": np.nan,
    }, index=dates)
    returns.loc[dates[5]:, "NYSE:GONE"] = np.nan
    returns.loc[dates[6]:, "X:GONE"] = np.nan
    returns.loc[dates[3]:dates[6], "X:HALT"] = np.nan  # four days: a halt, not a delisting
    returns.loc[dates[15]:, "X:NEW"] = 0.01
    flags = delisting_flags(returns, np.array([False, False, True, True, True, True]), after=5)
    first = {s: flags.index[flags[s]][0] if flags[s].any() else None for s in flags.columns}
    assert first == {"NYSE:A": None, "NYSE:GONE": dates[11], "X:B": None, "X:GONE": dates[10], "X:HALT": None, "X:NEW": None}
    assert flags.loc[dates[11]:, "NYSE:GONE"].all()
    # causal: the flags of a prefix are the prefix of the flags
    pd.testing.assert_frame_equal(delisting_flags(returns.iloc[:12], np.array([False, False, True, True, True, True]), 5), flags.iloc[:12])


def test_a_delisted_holding_takes_the_delisting_return_then_is_cash() -> None:
    dates = utc_days(6)
    returns = pd.DataFrame({"A": [0.1, np.nan, np.nan, np.nan, 0.5, np.nan], "B": [0.0, 0.1, 0.0, 0.0, 0.0, 0.0]}, index=dates)
    delisted = pd.DataFrame({"A": [False, False, True, True, False, False], "B": False}, index=dates)
    weights = pd.Series({"A": 0.5, "B": 0.5})
    result = simulate_window(weights, returns, delisted=delisted, delisting_return=-0.3)
    # A is worth 0.55 of 1.10 on day 1 and loses 30% on day 2; its later 50% is not earned
    value = np.array([1.05, 1.10, 0.935, 0.935, 0.935, 0.935])
    np.testing.assert_allclose(result.returns.to_numpy(), value / np.concatenate(([1.0], value[:-1])) - 1, rtol=1e-14)
    (delisting,) = result.delistings
    assert (delisting.date, delisting.symbol) == (dates[2], "A")
    assert delisting.weight == pytest.approx(0.5, rel=1e-14)
    assert result.end_weights["A"] == 0.0 and result.end_weights["B"] == pytest.approx(0.55 / value[-1], rel=1e-14)
    # 0: the position closes at its last price
    flat = simulate_window(weights, returns, delisted=delisted, delisting_return=0.0)
    np.testing.assert_allclose(flat.returns.to_numpy()[:4], simulate_window(weights, returns).returns.to_numpy()[:4], rtol=1e-15)
    assert flat.returns.iloc[4] == 0.0  # A's later 50% is not earned: the position was closed


def test_delisting_return_is_range_checked() -> None:
    returns = random_returns(3, ["A"])
    with pytest.raises(ParamValidationError) as info:
        simulate_window(pd.Series({"A": 1.0}), returns, delisting_return=-1.5)
    assert info.value.param == "delisting_return"
