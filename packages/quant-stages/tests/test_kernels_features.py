"""Known-answer tests of the selection features kernel against plain per-asset references."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.linalg import cholesky, toeplitz
from scipy.special import beta

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels.features import FEATURE_COLUMNS, compute_features, hurst_window_sizes

TOLERANCE = 1e-10


# ----------------------------------------------------------------------------- helpers


def frame(columns: dict[str, np.ndarray], start: str = "2021-01-01") -> pd.DataFrame:
    length = len(next(iter(columns.values())))
    dates = pd.date_range(start, periods=length, freq="D", tz="UTC", name="date")
    return pd.DataFrame(columns, index=dates)


def features_of(
    returns: pd.DataFrame, periods: float = 365.0, traded: float = 1e6, **params: object
) -> pd.DataFrame:
    symbols = list(returns.columns)
    return compute_features(
        returns,
        pd.Series(periods, index=symbols),
        pd.Series(traded, index=symbols),
        **params,
    )


def fractional_gaussian_noise(
    length: int, hurst: float, n_series: int, rng: np.random.Generator
) -> np.ndarray:
    """Exact fGn by Cholesky factor of its Toeplitz autocovariance (Mandelbrot & Van Ness 1968)."""
    lags = np.arange(length, dtype=np.float64)
    autocovariance = 0.5 * (
        (lags + 1) ** (2 * hurst) - 2 * lags ** (2 * hurst) + np.abs(lags - 1) ** (2 * hurst)
    )
    factor = cholesky(toeplitz(autocovariance), lower=True)
    return factor @ rng.standard_normal((length, n_series))


def reference_permutation_entropy(x: np.ndarray, order: int, delay: int) -> float:
    span = (order - 1) * delay
    patterns = Counter(
        tuple(np.argsort(x[t : t + span + 1 : delay], kind="stable")) for t in range(len(x) - span)
    )
    n_windows = len(x) - span
    if n_windows < math.factorial(order):
        return math.nan
    frequencies = np.array(list(patterns.values()), dtype=np.float64) / n_windows
    return float(-(frequencies * np.log(frequencies)).sum() / math.log(math.factorial(order)))


def reference_expected_rs(n: int) -> float:
    # Gamma((n-1)/2) / (sqrt(pi) Gamma(n/2)) = B((n-1)/2, 1/2) / pi
    return (n - 0.5) / n * beta((n - 1) / 2, 0.5) / math.pi * sum(math.sqrt((n - i) / i) for i in range(1, n))


def reference_hurst(x: np.ndarray, min_window: int, sizes_cap: int) -> float:
    points_x, points_y = [], []
    for size in hurst_window_sizes(min_window, sizes_cap).tolist():
        n_blocks = len(x) // size
        if n_blocks < 2:
            continue
        ratios = []
        for b in range(n_blocks):
            block = x[len(x) - (b + 1) * size : len(x) - b * size]
            walk = np.cumsum(block - block.mean())
            scale = block.std()
            if scale**2 > 1e-12 * np.mean(block**2):
                ratios.append((walk.max() - walk.min()) / scale)
        if ratios:
            points_x.append(math.log(size))
            points_y.append(math.log(np.mean(ratios)) - math.log(reference_expected_rs(size)))
    if len(points_x) < 3:
        return math.nan
    slope = np.polyfit(points_x, points_y, 1)[0]
    return float(np.clip(0.5 + slope, 0.0, 1.0))


def reference_expected_shortfall(x: np.ndarray, level: float) -> float:
    ordered = np.sort(x)
    k = math.floor(len(x) * level + 1e-9)
    if k < 1:
        return math.nan
    tail = ordered[:k].sum() + (len(x) * level - k) * ordered[k]
    return float(-tail / (len(x) * level))


def reference_features(x: np.ndarray, periods: float, traded: float, n_rows: int) -> dict[str, float]:
    series = pd.Series(x).dropna().to_numpy()
    log_returns = np.log1p(series)
    return {
        "momentum": series.mean() * periods,
        "volatility": pd.Series(series).std() * math.sqrt(periods),
        "entropy": reference_permutation_entropy(series, 5, 1),
        "efficiency": abs(log_returns.sum()) / np.abs(log_returns).sum(),
        "hurst": reference_hurst(series, 8, n_rows // 2),
        "skew": stats.skew(series, bias=False),
        "kurtosis": stats.kurtosis(series, bias=False),
        "cvar": reference_expected_shortfall(series, 0.05),
        "liquidity": math.log10(1 + traded),
        "history": float(len(series)),
    }


@pytest.fixture(scope="module")
def mixed_market() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Crypto (every day), equities (weekdays only), a late listing and a gappy asset."""
    rng = np.random.default_rng(20240601)
    n_rows = 400
    dates = pd.date_range("2022-01-03", periods=n_rows, freq="D", tz="UTC", name="date")
    weekend = dates.day_of_week >= 5
    data = {
        "BINANCE:BTCUSDT": rng.standard_t(4, n_rows) * 0.03 + 0.001,
        "BINANCE:ETHUSDT": rng.standard_normal(n_rows) * 0.04,
        "NASDAQ:AAPL": np.where(weekend, np.nan, rng.standard_normal(n_rows) * 0.015 + 0.0005),
        "NYSE:IBM": np.where(weekend, np.nan, rng.laplace(0, 0.01, n_rows)),
        "BINANCE:NEWUSDT": np.concatenate([np.full(250, np.nan), rng.standard_normal(n_rows - 250) * 0.05]),
    }
    gappy = rng.standard_normal(n_rows) * 0.02
    gappy[rng.random(n_rows) < 0.3] = np.nan
    data["OTC:GAPPY"] = gappy
    stale = rng.standard_normal(n_rows) * 0.01
    stale[40:56] = 0.0  # stale prices: whole R/S blocks and entropy windows of ties
    stale[200:209] = 0.0
    data["OTC:STALE"] = stale
    returns = pd.DataFrame(data, index=dates)
    periods = pd.Series({s: (252.0 if s.startswith(("NASDAQ", "NYSE")) else 365.0) for s in data})
    traded = pd.Series({s: 10.0 ** (5 + i) for i, s in enumerate(sorted(data))})
    return returns, periods, traded


# ----------------------------------------------------------------------------- known answers


def test_every_feature_matches_a_per_asset_reference(mixed_market) -> None:
    returns, periods, traded = mixed_market
    result = compute_features(returns, periods, traded)
    assert list(result.columns) == list(FEATURE_COLUMNS)
    assert list(result.index) == sorted(returns.columns)
    assert result.index.name == "symbol"
    assert all(dtype == np.float64 for dtype in result.dtypes)
    for symbol in returns.columns:
        expected = reference_features(
            returns[symbol].to_numpy(), periods[symbol], traded[symbol], len(returns)
        )
        for feature, value in expected.items():
            got = result.loc[symbol, feature]
            assert got == pytest.approx(value, abs=TOLERANCE, rel=TOLERANCE), (symbol, feature)


def test_reference_check_is_not_vacuous(mixed_market) -> None:
    returns, periods, traded = mixed_market
    result = compute_features(returns, periods, traded)
    assert result.notna().all().all()
    assert result.loc["NASDAQ:AAPL", "history"] == float(returns["NASDAQ:AAPL"].notna().sum())
    assert result.loc["BINANCE:NEWUSDT", "history"] == 150.0


def test_monotone_series_has_efficiency_one_and_entropy_zero() -> None:
    rising = np.linspace(0.001, 0.02, 300)
    result = features_of(frame({"UP": rising, "DOWN": -rising}))
    assert result.loc["UP", "efficiency"] == 1.0
    assert result.loc["DOWN", "efficiency"] == 1.0
    assert result.loc["UP", "entropy"] == 0.0
    assert result.loc["DOWN", "entropy"] == 0.0


def test_iid_noise_has_entropy_near_one_and_low_efficiency() -> None:
    rng = np.random.default_rng(7)
    result = features_of(frame({f"N{i}": rng.standard_normal(3000) * 0.02 for i in range(5)}))
    assert (result["entropy"] > 0.985).all()
    assert (result["entropy"] <= 1.0).all()
    assert (result["efficiency"] < 0.1).all()


def test_hurst_separates_persistent_random_and_mean_reverting_series() -> None:
    rng = np.random.default_rng(11)
    n_rows, n_series = 1000, 12
    persistent = fractional_gaussian_noise(n_rows, 0.8, n_series, rng) * 0.01
    white = rng.standard_normal((n_rows, n_series)) * 0.01
    reverting = fractional_gaussian_noise(n_rows, 0.2, n_series, rng) * 0.01
    columns = {}
    for name, block in (("P", persistent), ("W", white), ("R", reverting)):
        columns.update({f"{name}{i:02d}": block[:, i] for i in range(n_series)})
    hurst = features_of(frame(columns))["hurst"]
    persistent_h = hurst[hurst.index.str.startswith("P")]
    white_h = hurst[hurst.index.str.startswith("W")]
    reverting_h = hurst[hurst.index.str.startswith("R")]
    assert persistent_h.min() > 0.58 and persistent_h.mean() > 0.65
    assert white_h.between(0.38, 0.62).all() and abs(white_h.mean() - 0.5) < 0.05
    assert reverting_h.max() < 0.4 and reverting_h.mean() < 0.32


def test_strongly_autocorrelated_series_is_persistent() -> None:
    rng = np.random.default_rng(3)
    shocks = rng.standard_normal(1000)
    ar = np.zeros(1000)
    for t in range(1, 1000):
        ar[t] = 0.6 * ar[t - 1] + shocks[t]
    result = features_of(frame({"AR": ar * 0.01, "WN": shocks * 0.01}))
    assert result.loc["AR", "hurst"] > 0.6
    assert result.loc["AR", "hurst"] > result.loc["WN", "hurst"] + 0.1


def test_annualisation_uses_each_assets_own_periods_per_year() -> None:
    x = np.array([0.01, -0.02, 0.03, 0.005, 0.0, 0.012])
    returns = frame({"CRYPTO": x, "STOCK": x})
    result = compute_features(
        returns, pd.Series({"CRYPTO": 365, "STOCK": 252}), pd.Series({"CRYPTO": 0.0, "STOCK": 999.0})
    )
    assert result.loc["CRYPTO", "momentum"] == pytest.approx(x.mean() * 365, abs=TOLERANCE)
    assert result.loc["STOCK", "momentum"] == pytest.approx(x.mean() * 252, abs=TOLERANCE)
    assert result.loc["STOCK", "volatility"] == pytest.approx(x.std(ddof=1) * math.sqrt(252), abs=TOLERANCE)
    assert result.loc["CRYPTO", "liquidity"] == 0.0
    assert result.loc["STOCK", "liquidity"] == pytest.approx(3.0, abs=TOLERANCE)


def test_expected_shortfall_by_hand() -> None:
    # 40 returns at 5%: the tail is exactly the two worst, -0.10 and -0.06.
    x = np.concatenate([[-0.10, -0.06], np.full(38, 0.01)])
    assert features_of(frame({"A": x}))["cvar"]["A"] == pytest.approx(0.08, abs=TOLERANCE)
    # 30 returns: n a = 1.5, the worst plus half of the second worst, over 1.5.
    y = np.concatenate([[-0.09, -0.03], np.full(28, 0.02)])
    assert features_of(frame({"B": y}))["cvar"]["B"] == pytest.approx(
        (0.09 + 0.5 * 0.03) / 1.5, abs=TOLERANCE
    )


def test_weekend_gaps_are_skipped_not_zero_filled() -> None:
    rng = np.random.default_rng(5)
    n_rows = 300
    dates = pd.date_range("2023-01-02", periods=n_rows, freq="D", tz="UTC")
    weekday = dates.day_of_week < 5
    traded_values = rng.standard_normal(int(weekday.sum())) * 0.01
    gappy = np.full(n_rows, np.nan)
    gappy[weekday] = traded_values
    dense = np.full(n_rows, np.nan)
    dense[n_rows - len(traded_values) :] = traded_values
    result = features_of(pd.DataFrame({"GAPPY": gappy, "DENSE": dense}, index=dates), periods=252.0)
    # the return features only: coverage and staleness are about the calendar, which differs here
    calendar = ["coverage", "stale"]
    pd.testing.assert_series_equal(
        result.loc["GAPPY"].drop(calendar), result.loc["DENSE"].drop(calendar), check_names=False, check_exact=True
    )


def test_result_does_not_depend_on_column_order(mixed_market) -> None:
    returns, periods, traded = mixed_market
    shuffled = returns[list(reversed(returns.columns))]
    pd.testing.assert_frame_equal(
        compute_features(returns, periods, traded),
        compute_features(shuffled, periods.iloc[::-1], traded.iloc[::-1]),
        check_exact=True,
    )


def test_efficiency_window_uses_the_last_observations() -> None:
    x = np.concatenate([np.full(50, -0.01), np.full(10, 0.01), [-0.01], np.full(9, 0.01)])
    result = features_of(
        frame({"A": x, "SHORT": np.concatenate([np.full(62, np.nan), np.full(8, 0.01)])}),
        efficiency_window=20,
    )
    logs = np.log1p(x[-20:])
    assert result.loc["A", "efficiency"] == pytest.approx(abs(logs.sum()) / np.abs(logs).sum(), abs=TOLERANCE)
    assert math.isnan(result.loc["SHORT", "efficiency"])


def test_permutation_entropy_order_and_delay_match_reference() -> None:
    rng = np.random.default_rng(9)
    x = np.cumsum(rng.standard_normal(600)) * 0.001 + rng.standard_normal(600) * 0.01
    x[::7] = 0.0  # ties
    result = features_of(frame({"A": x}), entropy_order=3, entropy_delay=2)
    assert result.loc["A", "entropy"] == pytest.approx(reference_permutation_entropy(x, 3, 2), abs=TOLERANCE)


# ----------------------------------------------------------------------------- edge cases


def test_short_histories_give_nan_features_not_errors() -> None:
    x = np.full(200, np.nan)
    x[-3:] = [0.01, -0.02, 0.015]
    result = features_of(
        frame({"THREE": x, "EMPTY": np.full(200, np.nan), "ONE": np.r_[np.full(199, np.nan), 0.02]})
    )
    three = result.loc["THREE"]
    assert three["history"] == 3.0
    assert three["momentum"] == pytest.approx(np.mean([0.01, -0.02, 0.015]) * 365, abs=TOLERANCE)
    assert not math.isnan(three["volatility"]) and not math.isnan(three["skew"])
    for feature in ("entropy", "hurst", "kurtosis", "cvar"):
        assert math.isnan(three[feature]), feature
    empty = result.loc["EMPTY"]
    assert empty["history"] == 0.0
    assert empty["coverage"] == 0.0  # no observation covers nothing
    assert empty.drop(["history", "liquidity", "coverage"]).isna().all()
    assert math.isnan(result.loc["ONE", "volatility"])


def test_constant_series_has_zero_volatility_and_undefined_shape() -> None:
    result = features_of(frame({"FLAT": np.full(100, 0.001), "ZERO": np.zeros(100)}))
    assert result.loc["FLAT", "volatility"] == 0.0
    assert math.isnan(result.loc["FLAT", "skew"]) and math.isnan(result.loc["FLAT", "kurtosis"])
    assert result.loc["FLAT", "efficiency"] == 1.0
    assert math.isnan(result.loc["ZERO", "efficiency"])
    assert math.isnan(result.loc["FLAT", "hurst"])


def test_empty_universe_gives_empty_frame() -> None:
    empty = pd.DataFrame(
        index=pd.date_range("2024-01-01", periods=5, tz="UTC"), columns=pd.Index([], dtype=str), dtype=float
    )
    result = compute_features(empty, pd.Series(dtype=float), pd.Series(dtype=float))
    assert result.empty and list(result.columns) == list(FEATURE_COLUMNS)


# ----------------------------------------------------------------------------- bad input


def test_return_at_or_below_minus_one_is_rejected() -> None:
    with pytest.raises(DataValidationError, match="'B'") as error:
        features_of(frame({"A": np.full(5, 0.01), "B": np.array([0.0, 0.1, -1.0, 0.0, 0.0])}))
    assert error.value.rule == "return_above_minus_one"


def test_infinite_return_is_rejected() -> None:
    with pytest.raises(DataValidationError) as error:
        features_of(frame({"A": np.array([0.0, np.inf, 0.0])}))
    assert error.value.column == "A"


def test_duplicated_symbols_are_rejected() -> None:
    returns = pd.DataFrame(np.zeros((3, 2)), columns=["A", "A"])
    with pytest.raises(DataValidationError, match="duplicated"):
        compute_features(returns, pd.Series({"A": 365.0}), pd.Series({"A": 1.0}))


def test_unsorted_dates_are_rejected() -> None:
    returns = frame({"A": np.zeros(4)}).iloc[::-1]
    with pytest.raises(DataValidationError, match="increasing"):
        features_of(returns)


def test_missing_periods_per_year_names_the_symbol() -> None:
    returns = frame({"A": np.zeros(4), "B": np.zeros(4)})
    with pytest.raises(DataValidationError) as error:
        compute_features(returns, pd.Series({"A": 365.0}), pd.Series({"A": 1.0, "B": 1.0}))
    assert error.value.source == "periods_per_year" and error.value.row == "B"


def test_negative_value_traded_is_rejected() -> None:
    returns = frame({"A": np.zeros(4)})
    with pytest.raises(DataValidationError, match="value traded"):
        compute_features(returns, pd.Series({"A": 365.0}), pd.Series({"A": -5.0}))


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("entropy_order", 1),
        ("entropy_order", 8),
        ("entropy_delay", 0),
        ("efficiency_window", 1),
        ("hurst_min_window", 3),
        ("cvar_level", 0.0),
        ("cvar_level", 1.0),
    ],
)
def test_bad_parameters_are_rejected(param: str, value: object) -> None:
    with pytest.raises(ParamValidationError) as error:
        features_of(frame({"A": np.zeros(10)}), **{param: value})
    assert error.value.param == param
