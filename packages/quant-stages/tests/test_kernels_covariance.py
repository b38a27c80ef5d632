"""Covariance: pairwise-complete sample, Ledoit-Wolf constant correlation, PSD repair, calendars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels.covariance import (
    covariance,
    ledoit_wolf_constant_correlation_intensity,
    nearest_correlation,
    repair_to_psd,
)


def dated(values: np.ndarray | list[list[float]], symbols: list[str]) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    index = pd.date_range("2024-01-01", periods=values.shape[0], freq="D", tz="UTC")
    return pd.DataFrame(values, index=index, columns=symbols)


def correlated_returns(n_rows: int, n_assets: int, seed: int) -> np.ndarray:
    """Returns with heterogeneous correlations and fat tails (so Ledoit-Wolf has 0 < delta < 1)."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.01, (n_rows, 1)) * rng.uniform(0, 2, n_assets)
    return market + rng.normal(0, 0.01, (n_rows, n_assets)) + 0.003 * rng.standard_t(3, (n_rows, n_assets))


def test_pairwise_complete_hand_example() -> None:
    # A: 0.01, 0.03, NaN, 0.02 ; B: 0.02, NaN, 0.01, 0.03
    # var A over its 3 dates: mean 0.02, ((-0.01)^2 + 0.01^2 + 0) / 2 = 1e-4; var B likewise 1e-4.
    # Common dates 0 and 3: A (0.01, 0.02), B (0.02, 0.03): ((-0.005)(-0.005) + 0.005*0.005) / 1 = 5e-5.
    returns = dated([[0.01, 0.02], [0.03, np.nan], [np.nan, 0.01], [0.02, 0.03]], ["A", "B"])
    per_period = covariance(returns, periods_per_year=1)
    np.testing.assert_allclose(per_period.to_numpy(), [[1e-4, 5e-5], [5e-5, 1e-4]], rtol=1e-12)
    annual = covariance(returns, periods_per_year=252)
    np.testing.assert_allclose(annual.to_numpy(), [[0.0252, 0.0126], [0.0126, 0.0252]], rtol=1e-12)
    # per-asset calendars: variances x ppy_i, covariance x sqrt(ppy_A ppy_B)
    mixed = covariance(returns, periods_per_year=pd.Series({"A": 365.0, "B": 252.0}))
    expected_cov = 5e-5 * np.sqrt(365 * 252)
    np.testing.assert_allclose(mixed.to_numpy(), [[0.0365, expected_cov], [expected_cov, 0.0252]], rtol=1e-12)


def test_sample_matches_pandas_pairwise_covariance() -> None:
    values = correlated_returns(200, 6, seed=1)
    values[::7, 2] = np.nan
    values[:40, 4] = np.nan  # listed later
    values[5:9, 0] = np.nan
    returns = dated(values, list("ABCDEF"))
    ours = covariance(returns, periods_per_year=1)
    np.testing.assert_allclose(ours.to_numpy(), returns.cov().to_numpy(), rtol=1e-10, atol=1e-18)
    assert list(ours.index) == list(ours.columns) == list("ABCDEF")


def test_result_does_not_depend_on_column_order() -> None:
    values = correlated_returns(120, 5, seed=2)
    values[::5, 1] = np.nan
    returns = dated(values, list("EDCBA"))
    for method in ("sample", "ledoit_wolf"):
        first = covariance(returns, method)
        second = covariance(returns[list("BDAEC")], method)
        assert first.equals(second)


def paper_intensity(x: np.ndarray) -> float:
    """Ledoit & Wolf (2004) shrinkage intensity, transcribed from the authors' covCor.m."""
    t, n = x.shape
    x = x - x.mean(axis=0)
    sample = x.T @ x / t
    var = np.diag(sample)
    std = np.sqrt(var)
    rbar = (np.sum(sample / np.outer(std, std)) - n) / (n * (n - 1))
    prior = rbar * np.outer(std, std)
    np.fill_diagonal(prior, var)
    pi_mat = (x**2).T @ (x**2) / t - 2 * (x.T @ x) * sample / t + sample**2
    theta = (x**3).T @ x / t - var[:, None] * sample - sample * var[:, None] + var[:, None] * sample
    np.fill_diagonal(theta, 0.0)
    rho = np.trace(pi_mat) + rbar * np.sum(np.outer(1 / std, std) * theta)
    gamma = np.linalg.norm(sample - prior, "fro") ** 2
    return max(0.0, min(1.0, (pi_mat.sum() - rho) / gamma / t))


def test_ledoit_wolf_intensity_matches_the_paper_on_complete_data() -> None:
    x = correlated_returns(120, 8, seed=3)
    counts = np.full((8, 8), 120.0)
    delta = ledoit_wolf_constant_correlation_intensity(x, counts)
    assert 0.0 < delta < 1.0
    assert delta == pytest.approx(paper_intensity(x), rel=1e-12)


def test_ledoit_wolf_is_the_convex_combination_of_sample_and_target() -> None:
    x = correlated_returns(120, 8, seed=3)
    symbols = [f"S{i}" for i in range(8)]
    returns = dated(x, symbols)
    sample = covariance(returns, periods_per_year=1).to_numpy()
    shrunk = covariance(returns, "ledoit_wolf", periods_per_year=1).to_numpy()
    delta = paper_intensity(x)
    std = np.sqrt(np.diag(sample))
    correlation = sample / np.outer(std, std)
    rbar = correlation[~np.eye(8, dtype=bool)].mean()
    target = rbar * np.outer(std, std)
    np.fill_diagonal(target, np.diag(sample))
    np.testing.assert_allclose(shrunk, delta * target + (1 - delta) * sample, rtol=1e-12)
    np.testing.assert_allclose(np.diag(shrunk), np.diag(sample), rtol=1e-14)


def test_ledoit_wolf_with_missing_values_is_valid() -> None:
    values = correlated_returns(150, 10, seed=4)
    values[:60, 3] = np.nan
    values[::3, 7] = np.nan
    returns = dated(values, [f"S{i}" for i in range(10)])
    shrunk = covariance(returns, "ledoit_wolf").to_numpy()
    sample = covariance(returns).to_numpy()
    np.testing.assert_allclose(np.diag(shrunk), np.diag(sample), rtol=1e-12)
    assert np.linalg.eigvalsh(shrunk)[0] > 0
    # shrinkage pulls the correlations towards their mean
    corr = lambda m: m / np.sqrt(np.outer(np.diag(m), np.diag(m)))  # noqa: E731
    off = ~np.eye(10, dtype=bool)
    assert corr(shrunk)[off].std() < corr(sample)[off].std()


def test_nearest_correlation_matches_higham_example() -> None:
    # Higham (2002), section 4: the nearest correlation matrix to [[1,1,0],[1,1,1],[0,1,1]].
    target = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    nearest = nearest_correlation(target)
    expected = np.array([[1.0, 0.7607, 0.1573], [0.7607, 1.0, 0.7607], [0.1573, 0.7607, 1.0]])
    np.testing.assert_allclose(nearest, expected, atol=1e-4)
    np.testing.assert_allclose(np.diag(nearest), 1.0, atol=1e-15)


def test_indefinite_pairwise_matrix_is_repaired_keeping_variances() -> None:
    # A = B on days 0-9, B = C on days 10-19, A = -C on days 20-29: pairwise correlations
    # (1, 1, -1) are impossible together, so the pairwise matrix is indefinite.
    rng = np.random.default_rng(6)
    x1, x2, x3 = (rng.normal(0, 0.01, 10) for _ in range(3))
    nan = np.full(10, np.nan)
    a = np.concatenate((x1, nan, x3))
    b = np.concatenate((x1, x2, nan))
    c = np.concatenate((nan, x2, -x3))
    returns = dated(np.column_stack((a, b, c)), ["A", "B", "C"])
    raw = returns.cov().to_numpy()
    assert np.linalg.eigvalsh(raw)[0] < -1e-6
    repaired = covariance(returns, periods_per_year=1).to_numpy()
    eigenvalues = np.linalg.eigvalsh(repaired)
    assert eigenvalues[0] >= -1e-12 * eigenvalues[-1]
    np.testing.assert_allclose(np.diag(repaired), np.diag(raw), rtol=1e-12)
    unchanged, was_repaired = repair_to_psd(np.array([[1.0, 0.5], [0.5, 1.0]]))
    assert not was_repaired and unchanged.tolist() == [[1.0, 0.5], [0.5, 1.0]]


def test_bad_input_is_rejected_with_the_rule() -> None:
    good = dated([[0.01, 0.02], [0.02, 0.01], [0.00, 0.03]], ["A", "B"])
    with pytest.raises(ParamValidationError, match="unknown covariance method"):
        covariance(good, "shrunk")
    with pytest.raises(ParamValidationError, match="no value for 1 symbol"):
        covariance(good, periods_per_year={"A": 252.0})
    with pytest.raises(ParamValidationError, match="positive finite"):
        covariance(good, periods_per_year=0)
    with pytest.raises(ParamValidationError, match="min_periods"):
        covariance(good, min_periods=1)
    sparse = dated([[0.01, np.nan], [0.02, 0.01], [0.00, np.nan]], ["A", "B"])
    with pytest.raises(DataValidationError, match="only 1 date"):
        covariance(sparse)
    flat = dated([[0.01, 0.0], [0.02, 0.0], [0.00, 0.0]], ["A", "B"])
    with pytest.raises(DataValidationError, match="zero variance") as info:
        covariance(flat)
    assert info.value.column == "B"
    infinite = dated([[0.01, np.inf], [0.02, 0.01], [0.00, 0.03]], ["A", "B"])
    with pytest.raises(DataValidationError, match="infinite"):
        covariance(infinite)
    with pytest.raises(DataValidationError, match="duplicate"):
        covariance(good.set_axis(["A", "A"], axis=1))


@pytest.mark.parametrize("method", ["sample", "ledoit_wolf"])
def test_complete_data_with_more_assets_than_dates_gives_a_psd_matrix_without_repair(method: str) -> None:
    """N > T: the sample covariance is singular but PSD (a Gram matrix), so it needs no check or
    repair (which would cost O(N^3)); Ledoit-Wolf stays PSD (and becomes definite)."""
    rng = np.random.default_rng(21)
    values = rng.standard_normal((40, 1)) * 0.01 + rng.standard_normal((40, 60)) * 0.02
    returns = pd.DataFrame(values, columns=[f"S{i:02d}" for i in range(60)])
    cov = covariance(returns, method, 252.0).to_numpy()
    eigenvalues = np.linalg.eigvalsh(cov)
    assert eigenvalues[0] >= -1e-12 * eigenvalues[-1]
    centred = values - values.mean(axis=0)
    if method == "sample":
        np.testing.assert_allclose(cov, centred.T @ centred / 39 * 252.0, rtol=1e-12, atol=1e-15)
        assert np.sum(eigenvalues > 1e-12 * eigenvalues[-1]) == 39  # rank T - 1: singular
    else:
        assert eigenvalues[0] > 0
