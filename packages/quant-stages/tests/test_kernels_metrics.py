"""Performance metrics on a hand-computable series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels.metrics import drawdown_series, performance_metrics


def series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), freq="D", tz="UTC"))


def test_metrics_by_hand() -> None:
    # r = (0.10, -0.10, 0.05, 0.00), 4 periods per year (so the series is exactly one year)
    # wealth 1.1, 0.99, 1.0395, 1.0395 -> total return 0.0395 = CAGR
    # mean 0.0125; deviations (0.0875, -0.1125, 0.0375, -0.0125), sum of squares 0.021875,
    # variance 0.021875 / 3, std 0.0853913; vol = 2 std; Sharpe = 0.0125 / std * 2
    # downside deviation sqrt((0 + 0.01 + 0 + 0) / 4) = 0.05 -> Sortino 0.0125 / 0.05 * 2 = 0.5
    # drawdowns (0, -0.1, -0.055, -0.055) -> max drawdown -0.1, Calmar 0.0395 / 0.1
    returns = series([0.10, -0.10, 0.05, 0.00])
    metrics = performance_metrics(returns, 4, turnover=pd.Series([1.0, 0.25]), costs=pd.Series([0.001, 0.00025]))
    std = math.sqrt(0.021875 / 3)
    assert metrics["periods"] == 4
    assert metrics["total_return"] == pytest.approx(0.0395, abs=1e-15)
    assert metrics["cagr"] == pytest.approx(0.0395, abs=1e-15)
    assert metrics["annualized_volatility"] == pytest.approx(2 * std, rel=1e-14)
    assert metrics["sharpe"] == pytest.approx(0.0125 / std * 2, rel=1e-14)
    assert metrics["sortino"] == pytest.approx(0.5, rel=1e-14)
    assert metrics["max_drawdown"] == pytest.approx(-0.1, abs=1e-15)
    assert metrics["calmar"] == pytest.approx(0.395, rel=1e-13)
    assert metrics["hit_rate"] == 0.5
    assert metrics["total_turnover"] == 1.25
    assert metrics["total_costs"] == pytest.approx(0.00125, abs=1e-18)
    np.testing.assert_allclose(drawdown_series(returns).to_numpy(), [0.0, -0.1, -0.055, -0.055], atol=1e-15)


def test_risk_free_rate_and_multi_year_cagr() -> None:
    returns = series([0.10, -0.10, 0.05, 0.00])
    # rf 4% a year = 1% a period: excess mean 0.0025
    with_rf = performance_metrics(returns, 4, risk_free_rate=0.04)
    assert with_rf["sharpe"] == pytest.approx(0.0025 / math.sqrt(0.021875 / 3) * 2, rel=1e-13)
    # the same four periods read as two years (2 per year): CAGR = 1.0395^(1/2) - 1
    assert performance_metrics(returns, 2)["cagr"] == pytest.approx(math.sqrt(1.0395) - 1, rel=1e-14)


def test_first_period_loss_is_a_drawdown_and_degenerate_ratios_are_nan() -> None:
    assert performance_metrics(series([-0.1, 0.2]), 252)["max_drawdown"] == pytest.approx(-0.1, abs=1e-15)
    flat = performance_metrics(series([0.01, 0.01, 0.01]), 252)
    assert flat["max_drawdown"] == 0.0
    assert math.isnan(flat["calmar"]) and math.isnan(flat["sortino"])
    assert flat["hit_rate"] == 1.0
    assert math.isnan(flat["total_turnover"]) and math.isnan(flat["total_costs"])


def test_bad_input() -> None:
    with pytest.raises(DataValidationError, match="finite"):
        performance_metrics(series([0.1, np.nan]), 252)
    with pytest.raises(DataValidationError, match="empty"):
        performance_metrics(series([]), 252)
    with pytest.raises(DataValidationError, match="-100%"):
        performance_metrics(series([0.1, -1.0]), 252)
    with pytest.raises(ParamValidationError, match="periods_per_year"):
        performance_metrics(series([0.1]), 0)
