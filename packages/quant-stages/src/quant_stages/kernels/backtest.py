"""Walk-forward backtest kernels: windows, one traded window, and the stitched out-of-sample run.

Conventions (all windows):

* Rebalancing happens at the close of the last training date; the portfolio then holds the target
  weights into the first test date. Turnover at the rebalance is sum_i |w_target_i - w_drifted_i|,
  where w_drifted are the previous window's end weights after drifting with its returns. The first
  rebalance starts from cash, so it counts full turnover sum_i |w_target_i| (buying the whole
  book), and so does any window that does not directly follow the previous one (step > test: the
  dates between test windows are not traded and the book is treated as cash).
* Cost = turnover x cost_bps / 1e4, charged on the rebalance date as a deduction from that date's
  portfolio return: net_1 = gross_1 - cost. Doubling cost_bps therefore lowers exactly the
  rebalance dates' returns by the extra cost and nothing else.
* Between rebalances weights drift with returns (buy and hold): holding_i,t = w_i prod_{s<=t}
  (1 + r_i,s), portfolio value = sum of holdings + cash (1 - sum w), daily return = value_t /
  value_{t-1} - 1.
* A NaN return (an asset that does not trade that day: an equity at the weekend) contributes 0 to
  its holding that day: its price did not move, so the holding's value did not change. This is the
  holding's return, not a filled data point; the returns matrix itself is never modified.
* Delistings (`delisting_flags`): an asset that has not traded for `delisting_after` consecutive
  dates of its calendar is treated as delisted on the last of them, the first date on which its
  absence is known (a halt shorter than that is not a delisting; the rule reads no later date, so
  it cannot use the future). A holding in it then earns `delisting_return` that date (a loss by
  default: Shumway 1997 measured about -30% for performance-related delistings on NYSE/AMEX),
  the position is closed, and its proceeds are cash until the next rebalance. With
  `delisting_return = 0` the position closes at its last price.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.errors import DataValidationError, ParamValidationError

from quant_stages.kernels.checks import is_int, is_number


@dataclass(frozen=True)
class Window:
    """One walk-forward split. Dates are inclusive; the slices index the original row positions."""

    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_slice: slice
    test_slice: slice


@dataclass(frozen=True)
class Delisting:
    """A holding closed because its asset stopped trading: the date the loss was taken, the
    asset, and the share of the portfolio it held just before."""

    date: pd.Timestamp
    symbol: str
    weight: float


@dataclass(frozen=True)
class WindowResult:
    """One traded test window: daily returns (net and gross), the rebalance, and end weights."""

    returns: pd.Series
    gross_returns: pd.Series
    turnover: float
    cost: float
    target_weights: pd.Series
    end_weights: pd.Series
    delistings: tuple[Delisting, ...] = ()


@dataclass(frozen=True)
class BacktestResult:
    """Stitched out-of-sample returns and the per-window record.

    `weights` has one row of target weights per window (indexed by the window's test start);
    `turnover` and `costs` are indexed the same way.
    """

    returns: pd.Series
    gross_returns: pd.Series
    weights: pd.DataFrame
    turnover: pd.Series
    costs: pd.Series
    windows: list[Window]
    delistings: list[Delisting]


def _positive_int(value: object, name: str, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise ParamValidationError(
            f"{name} must be an integer >= {minimum} (a number of rows), got {value!r}",
            param=name,
            value=value,
            rule=f"int_ge_{minimum}",
        )
    return int(value)


def _validated_index(index: pd.Index) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise DataValidationError(
            f"the returns index must be a DatetimeIndex, got {type(index).__name__}",
            source="returns",
            rule="datetime_index",
        )
    if index.tz is None or str(index.tz) != "UTC":
        raise DataValidationError(
            f"the returns index must be in UTC, got tz={index.tz}", source="returns", rule="utc_index"
        )
    if not index.is_unique:
        raise DataValidationError(
            f"the returns index has duplicate dates, e.g. {index[index.duplicated()][0]}",
            source="returns",
            rule="unique_dates",
        )
    if not index.is_monotonic_increasing:
        raise DataValidationError("the returns index must be sorted by date", source="returns", rule="sorted_dates")
    return index


def walk_forward_windows(
    index: pd.Index, train: int, test: int, step: int | None = None, *, partial_last: bool = False
) -> list[Window]:
    """Rolling windows: `train` rows to fit, the next `test` rows to trade, moving by `step` rows.

    Test windows never overlap their train window nor each other (`step >= test`; default
    `step = test`, which gives contiguous test windows). Only full test windows are produced and
    the rows after the last full window are left out, unless `partial_last`: then the rows after
    it (fewer than `test`, with `step == test`) are traded as one last, shorter window.
    """
    index = _validated_index(index)
    train = _positive_int(train, "train", 2)
    test = _positive_int(test, "test", 1)
    step = test if step is None else _positive_int(step, "step", 1)
    if step < test:
        raise ParamValidationError(
            f"step {step} < test {test}: test windows would overlap and stitched returns would count dates twice",
            param="step",
            value=step,
            rule="step_ge_test",
        )
    if partial_last and step != test:
        raise ParamValidationError(
            f"a partial last window needs contiguous windows (step == test), got step {step} and test {test}",
            param="step",
            value=step,
            rule="partial_last_contiguous",
        )
    needed = train + (1 if partial_last else test)
    if needed > len(index):
        raise ParamValidationError(
            f"train {train} + {'one row' if partial_last else f'test {test}'} = {needed} rows, but the index "
            f"has only {len(index)} rows",
            param="train",
            value=train,
            rule="train_plus_test_le_rows",
        )
    starts = list(range(0, len(index) - train - test + 1, step))
    lengths = [test] * len(starts)
    if partial_last:
        tail_start = starts[-1] + step if starts else 0
        if len(index) - tail_start - train > 0:
            starts.append(tail_start)
            lengths.append(len(index) - tail_start - train)
    windows = []
    for start, length in zip(starts, lengths, strict=True):
        train_slice = slice(start, start + train)
        test_slice = slice(start + train, start + train + length)
        windows.append(
            Window(
                train_start=index[train_slice.start],
                train_end=index[train_slice.stop - 1],
                test_start=index[test_slice.start],
                test_end=index[test_slice.stop - 1],
                train_slice=train_slice,
                test_slice=test_slice,
            )
        )
    return windows


def _validated_weights(weights: pd.Series, name: str, symbols: pd.Index | None) -> pd.Series:
    if not isinstance(weights, pd.Series):
        raise DataValidationError(
            f"{name} must be a pandas Series, got {type(weights).__name__}", source=name, rule="series"
        )
    weights = weights.rename(index=str).astype("float64")
    if not weights.index.is_unique:
        raise DataValidationError(f"{name} has duplicate symbols", source=name, rule="unique_symbols")
    bad = weights.index[~np.isfinite(weights.to_numpy())]
    if len(bad):
        raise DataValidationError(f"{name} has a non-finite weight", source=name, row=str(bad[0]), rule="finite")
    if symbols is not None:
        unknown = sorted(set(weights.index[weights.to_numpy() != 0]) - set(symbols))
        if unknown:
            raise DataValidationError(
                f"{name} hold symbols with no returns in the test window: {unknown[:5]}",
                source=name,
                rule="known_symbols",
            )
    return weights


def delisting_flags(returns: pd.DataFrame, seven_day: np.ndarray | pd.Series, after: int) -> pd.DataFrame:
    """True where an asset counts as delisted: it traded before, and has not traded on any of the
    last `after` dates of its calendar (seven-day where `seven_day`, else weekday; a calendar's
    dates are those on which one of its assets trades). Causal: row s reads rows <= s only."""
    after = _positive_int(after, "delisting_after", 1)
    observed = returns.notna().to_numpy()
    seven = np.asarray(seven_day, dtype=bool)
    calendar_rows = np.stack([observed[:, ~seven].any(axis=1), observed[:, seven].any(axis=1)], axis=1)
    dates_so_far = np.cumsum(calendar_rows, axis=0)[:, seven.astype(np.int64)]
    # the calendar count at each asset's latest observation so far (-1 before its first)
    at_last_trade = np.maximum.accumulate(np.where(observed, dates_so_far, -1), axis=0)
    missed = np.where(at_last_trade >= 0, dates_so_far - at_last_trade, 0)
    return pd.DataFrame(missed >= after, index=returns.index, columns=returns.columns)


def simulate_window(
    weights: pd.Series,
    test_returns: pd.DataFrame,
    previous_weights: pd.Series | None = None,
    cost_bps: float = 0.0,
    *,
    delisted: pd.DataFrame | None = None,
    delisting_return: float = 0.0,
) -> WindowResult:
    """Trade one test window: rebalance to `weights`, then hold (drift) to the end; see module docs.

    `delisted` (from `delisting_flags`, the test window's rows) closes a holding at
    `delisting_return` on the first row its asset counts as delisted."""
    if not isinstance(test_returns, pd.DataFrame) or test_returns.empty:
        raise DataValidationError("test returns must be a non-empty DataFrame", source="test_returns", rule="non_empty")
    if (
        not is_number(cost_bps)
        or not math.isfinite(cost_bps)
        or cost_bps < 0
    ):
        raise ParamValidationError(
            f"cost_bps must be a finite number >= 0, got {cost_bps!r}", param="cost_bps", value=cost_bps, rule="ge_0"
        )
    returns = test_returns.rename(columns=str)
    symbols = pd.Index(sorted(returns.columns))
    if not symbols.is_unique:
        raise DataValidationError("test returns have duplicate columns", source="test_returns", rule="unique_symbols")
    target = _validated_weights(weights, "weights", symbols).reindex(symbols, fill_value=0.0)
    values = returns[symbols].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise DataValidationError("test returns contain an infinite value", source="test_returns", rule="finite_or_nan")
    if not is_number(delisting_return) or not -1.0 <= delisting_return <= 1.0:
        raise ParamValidationError(
            f"delisting_return must be a number in [-1, 1], got {delisting_return!r}",
            param="delisting_return", value=delisting_return, rule="range",
        )
    # A day without trading leaves the holding unchanged (see module docstring); not a data fill.
    holding_returns = np.where(np.isnan(values), 0.0, values)
    closing = np.zeros_like(holding_returns, dtype=bool)
    if delisted is not None:
        gone = delisted.reindex(index=returns.index, columns=symbols, fill_value=False).to_numpy(dtype=bool)
        closed = np.cumsum(gone, axis=0) > 0  # from the first delisted row on
        closing = closed & ~np.vstack([np.zeros((1, closed.shape[1]), dtype=bool), closed[:-1]])
        holding_returns = np.where(closing, float(delisting_return), np.where(closed, 0.0, holding_returns))
    else:
        closed = closing
    growth = np.cumprod(1.0 + holding_returns, axis=0)
    holdings = growth * target.to_numpy()
    cash = 1.0 - float(target.sum())
    value = holdings.sum(axis=1) + cash
    previous_value = np.concatenate(([1.0], value[:-1]))
    gross = value / previous_value - 1.0
    delistings = []
    for row, column in zip(*np.nonzero(closing & (target.to_numpy() != 0)), strict=True):
        before = holdings[row - 1, column] / value[row - 1] if row else float(target.iloc[column])
        delistings.append(Delisting(returns.index[row], str(symbols[column]), float(before)))
    if previous_weights is None:
        turnover = float(np.abs(target.to_numpy()).sum())
    else:
        previous = _validated_weights(previous_weights, "previous_weights", None)
        universe = target.index.union(previous.index)
        turnover = float(
            np.abs(target.reindex(universe, fill_value=0.0) - previous.reindex(universe, fill_value=0.0)).sum()
        )
    cost = turnover * float(cost_bps) / 1e4
    net = gross.copy()
    net[0] -= cost
    # a closed position's proceeds are cash
    end_weights = pd.Series(np.where(closed[-1], 0.0, holdings[-1]) / value[-1], index=symbols, name="weight")
    return WindowResult(
        returns=pd.Series(net, index=returns.index, name="return"),
        gross_returns=pd.Series(gross, index=returns.index, name="gross_return"),
        turnover=turnover,
        cost=cost,
        target_weights=target.rename("weight"),
        end_weights=end_weights,
        delistings=tuple(sorted(delistings, key=lambda d: (d.date, d.symbol))),
    )


def walk_forward(
    returns: pd.DataFrame,
    *,
    train: int,
    test: int,
    step: int | None = None,
    allocate: Callable[[pd.DataFrame], pd.Series],
    cost_bps: float = 0.0,
    partial_last: bool = False,
    delisted: pd.DataFrame | None = None,
    delisting_return: float = 0.0,
) -> BacktestResult:
    """Walk-forward backtest: per window, `allocate(train_returns)` then trade the test window.

    `allocate` sees only the train rows of the window (columns sorted by symbol): no look-ahead.
    The stitched returns are out-of-sample only (the concatenated test windows). Weights drift
    across consecutive windows, so each rebalance's turnover is measured from the drifted book.
    `partial_last` trades the rows after the last full test window too (see
    `walk_forward_windows`); `delisted` and `delisting_return` close holdings in assets that
    stopped trading (see `delisting_flags` and the module docstring).
    """
    if not isinstance(returns, pd.DataFrame) or returns.shape[1] == 0:
        raise DataValidationError(
            "returns must be a DataFrame with at least one column", source="returns", rule="non_empty"
        )
    returns = returns.rename(columns=str)
    returns = returns[sorted(returns.columns)]
    windows = walk_forward_windows(returns.index, train, test, step, partial_last=partial_last)
    if delisted is not None and not delisted.index.equals(returns.index):
        raise DataValidationError(
            "delisting flags must have the returns' dates, row for row", source="delisted", rule="same_index"
        )
    results: list[WindowResult] = []
    previous: WindowResult | None = None
    previous_stop: int | None = None
    for window in windows:
        weights = allocate(returns.iloc[window.train_slice])
        contiguous = previous is not None and previous_stop == window.test_slice.start
        result = simulate_window(
            weights,
            returns.iloc[window.test_slice],
            previous.end_weights if contiguous and previous is not None else None,
            cost_bps,
            delisted=None if delisted is None else delisted.iloc[window.test_slice],
            delisting_return=delisting_return,
        )
        results.append(result)
        previous, previous_stop = result, window.test_slice.stop
    rebalance_dates = pd.DatetimeIndex([w.test_start for w in windows], name="rebalance")
    return BacktestResult(
        returns=pd.concat([r.returns for r in results]),
        gross_returns=pd.concat([r.gross_returns for r in results]),
        weights=pd.DataFrame(
            [r.target_weights.to_numpy() for r in results], index=rebalance_dates, columns=returns.columns
        ),
        turnover=pd.Series([r.turnover for r in results], index=rebalance_dates, name="turnover"),
        costs=pd.Series([r.cost for r in results], index=rebalance_dates, name="cost"),
        windows=windows,
        delistings=[d for r in results for d in r.delistings],
    )
