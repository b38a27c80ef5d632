"""Performance metrics of a portfolio return series (simple returns, one per period).

Definitions (n periods, p periods per year, r_f the annual risk-free rate, r_f/p per period):

* total_return = prod(1 + r) - 1; cagr = (1 + total_return)^(p / n) - 1 (years = n / p).
* annualized_volatility = std(r, ddof=1) sqrt(p).
* sharpe = mean(r - r_f/p) / std(r, ddof=1) sqrt(p) (Sharpe 1994, arithmetic, annualised by sqrt(p)).
* sortino = mean(r - r_f/p) / downside_deviation sqrt(p), downside_deviation =
  sqrt(mean(min(r - r_f/p, 0)^2)) over all periods (Sortino & Price 1994, target = risk-free).
* max_drawdown = min_t (W_t / max_{s<=t} W_s - 1) with W the wealth path starting at 1, so a loss in
  the first period counts (a negative number; 0 when wealth never falls).
* calmar = cagr / |max_drawdown| (Young 1991).
* hit_rate = share of periods with r > 0.
* total_turnover / total_costs = sums of the given per-rebalance series (NaN when not given).
Ratios whose denominator is 0 are NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quant_core.errors import DataValidationError, ParamValidationError

from quant_stages.kernels.checks import is_finite_number


def _validated_series(returns: pd.Series) -> np.ndarray:
    if not isinstance(returns, pd.Series):
        raise DataValidationError(
            f"returns must be a pandas Series, got {type(returns).__name__}", source="returns", rule="series"
        )
    if returns.empty:
        raise DataValidationError("returns are empty", source="returns", rule="non_empty")
    values = returns.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataValidationError(
            "portfolio returns must be finite (a portfolio has a return every period)",
            source="returns",
            row=str(returns.index[bad[0]]),
            rule="finite",
        )
    if np.any(values <= -1.0):
        first = np.flatnonzero(values <= -1.0)[0]
        raise DataValidationError(
            f"return {values[first]} <= -100% wipes out the portfolio",
            source="returns",
            row=str(returns.index[first]),
            rule="gt_minus_1",
        )
    return values


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown after each period: wealth / running peak - 1 (wealth starts at 1, so <= 0)."""
    values = _validated_series(returns)
    wealth = np.cumprod(1.0 + values)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    return pd.Series(wealth / peak - 1.0, index=returns.index, name="drawdown")


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def performance_metrics(
    returns: pd.Series,
    periods_per_year: float,
    turnover: pd.Series | None = None,
    costs: pd.Series | None = None,
    *,
    risk_free_rate: float = 0.0,
) -> dict[str, float]:
    """CAGR, volatility, Sharpe, Sortino, max drawdown, Calmar, hit rate, turnover and costs.

    See the module docstring for each definition. `periods_per_year` is e.g. 252 for weekday
    series, 365 for calendar-day series.
    """
    if (
        not is_finite_number(periods_per_year)
        or not periods_per_year > 0
    ):
        raise ParamValidationError(
            f"periods_per_year must be a positive number, got {periods_per_year!r}",
            param="periods_per_year",
            value=periods_per_year,
            rule="positive",
        )
    values = _validated_series(returns)
    n_periods = values.size
    periods = float(periods_per_year)
    total_return = float(np.prod(1.0 + values) - 1.0)
    cagr = float((1.0 + total_return) ** (periods / n_periods) - 1.0)
    excess = values - float(risk_free_rate) / periods
    std = float(np.std(values, ddof=1)) if n_periods > 1 else float("nan")
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    max_drawdown = float(drawdown_series(returns).min())
    sqrt_periods = math.sqrt(periods)
    return {
        "periods": float(n_periods),
        "total_return": total_return,
        "cagr": cagr,
        "annualized_volatility": std * sqrt_periods,
        "sharpe": _ratio(float(excess.mean()), std) * sqrt_periods,
        "sortino": _ratio(float(excess.mean()), downside) * sqrt_periods,
        "max_drawdown": max_drawdown,
        "calmar": _ratio(cagr, abs(max_drawdown)),
        "hit_rate": float(np.mean(values > 0)),
        "total_turnover": float(turnover.sum()) if turnover is not None else float("nan"),
        "total_costs": float(costs.sum()) if costs is not None else float("nan"),
    }
