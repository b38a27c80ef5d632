"""Benchmark of the allocation kernels: min variance (10% cap), risk parity and HRP (and max Sharpe).

Synthetic market (seeded): 756 trading days, N assets driven by a market factor, 10 sector factors
and idiosyncratic noise; covariance = Ledoit-Wolf (constant correlation), annualised with 252.
For N = 50, 200, 500, 1000 each kernel is timed (best of a few runs; a single run for the slow
peers at large N) through `optimize`, so validation and the bounds check are included.

Peers in the same run:
* min variance written the three usual cvxpy ways on the full problem, all with CLARABEL: dense
  `quad_form(w, C)` (the peer), `quad_form(w, psd_wrap(C))` and `sum_squares(L.T @ w)` with a
  Cholesky factor; "gap" is our objective relative to the dense peer's (<= 0 means ours is as good).
* `scipy.cluster.hierarchy.linkage` alone (Ward on the correlation distance): the HRP floor.
* max Sharpe with a 10% cap (working set) against the whole homogenised problem in one CLARABEL
  solve with the same tolerances (what ours was before): time, Sharpe ratio gap, weight gap.
* with `--peers` (skfolio is a dev dependency): skfolio's HierarchicalRiskParity with Ward linkage
  and no optimal leaf ordering, fitted on the returns given in our data-defined asset order,
  against ours from the same returns (sample covariance + HRP); the max absolute weight
  difference is printed.

Targets (2-core machine): min variance < 0.3 s, max Sharpe <= 0.3 s and HRP < 0.1 s at N = 1000.
Run: ``OPENBLAS_NUM_THREADS=1 uv run python bench/allocation_kernels.py [--peers]`` (about 30 s).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from quant_stages.kernels.allocation import optimize
from quant_stages.kernels.allocation_types import build_problem
from quant_stages.kernels.constraints import WeightBounds
from quant_stages.kernels.covariance import covariance
from quant_stages.kernels.hrp import correlation_distance_from_covariance
from scipy.cluster.hierarchy import linkage

SIZES = (50, 200, 500, 1000)
N_DAYS = 756
N_SECTORS = 10
CAP = WeightBounds(max_weight=0.10)


def synthetic_factor_returns(n_assets: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-04", periods=N_DAYS, freq="B", tz="UTC")
    beta = rng.uniform(0.5, 1.5, n_assets)
    sector = rng.integers(0, N_SECTORS, n_assets)
    sector_loading = rng.uniform(0.3, 1.0, n_assets)
    idio_vol = rng.uniform(0.005, 0.03, n_assets)
    market = rng.normal(0.0003, 0.01, (N_DAYS, 1))
    sectors = rng.normal(0.0, 0.006, (N_DAYS, N_SECTORS))
    noise = rng.standard_t(5, (N_DAYS, n_assets)) * idio_vol / np.sqrt(5 / 3)
    values = market * beta + sectors[:, sector] * sector_loading + noise
    return pd.DataFrame(values, index=dates, columns=[f"SYM{i:05d}" for i in range(n_assets)])


def best_time(function: Callable[..., Any], repeats: int, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def cvxpy_min_variance(cov: np.ndarray, form: str) -> np.ndarray:
    weights = cp.Variable(cov.shape[0])
    if form == "dense":
        risk = cp.quad_form(weights, cov)
    elif form == "psd_wrap":
        risk = cp.quad_form(weights, cp.psd_wrap(cov))
    else:
        risk = cp.sum_squares(np.linalg.cholesky(cov).T @ weights)
    problem = cp.Problem(cp.Minimize(risk), [cp.sum(weights) == 1, weights >= 0, weights <= CAP.max_weight])
    problem.solve(solver=cp.CLARABEL, max_threads=1)
    return np.asarray(weights.value)


def cvxpy_max_sharpe(cov: pd.DataFrame, mu: pd.Series) -> pd.Series:
    """The whole homogenised tangency problem in one CLARABEL solve (what ours did before the
    working set): min y'Cy s.t. mu'y = 1, 0 <= y <= cap * sum(y)."""
    matrix = cov.to_numpy()
    scaled, kappa = cp.Variable(matrix.shape[0]), cp.Variable()
    constraints = [mu.loc[cov.index].to_numpy() @ scaled == 1, cp.sum(scaled) == kappa, kappa >= 0,
                   scaled >= 0, scaled <= CAP.max_weight * kappa]
    problem = cp.Problem(cp.Minimize(cp.quad_form(scaled, cp.psd_wrap(matrix))), constraints)
    problem.solve(solver=cp.CLARABEL, max_threads=1, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return pd.Series(np.asarray(scaled.value) / float(np.sum(scaled.value)), index=cov.index)


def sharpe_ratio(weights: pd.Series, cov: pd.DataFrame, mu: pd.Series) -> float:
    w = weights.reindex(cov.index).to_numpy()
    return float(mu.reindex(cov.index).to_numpy() @ w / np.sqrt(w @ cov.to_numpy() @ w))


def skfolio_hrp() -> Callable[[pd.DataFrame], pd.Series] | None:
    try:
        from skfolio.cluster import HierarchicalClustering, LinkageMethod
        from skfolio.moments import EmpiricalCovariance
        from skfolio.optimization import HierarchicalRiskParity
        from skfolio.prior import EmpiricalPrior
    except ImportError:
        return None
    clustering = HierarchicalClustering(linkage_method=LinkageMethod.WARD)
    # No nearest-PD repair: with N > T the sample covariance is singular (PSD), which HRP handles,
    # and skfolio's repair would dominate its time (and change the matrix) at N = 1000.
    prior = EmpiricalPrior(covariance_estimator=EmpiricalCovariance(nearest=False))
    try:
        from skfolio.seriation import HierarchicalSeriation

        model = HierarchicalRiskParity(
            prior_estimator=prior,
            seriation_estimator=HierarchicalSeriation(
                hierarchical_clustering_estimator=clustering, optimal_ordering=False
            ),
        )
    except ImportError:  # older skfolio: leaf order of the tree, no seriation estimator
        model = HierarchicalRiskParity(prior_estimator=prior, hierarchical_clustering_estimator=clustering)

    def fit(returns: pd.DataFrame) -> pd.Series:
        fitted = model.fit(returns)
        return pd.Series(fitted.weights_, index=returns.columns)

    return fit


def ours_hrp_from_returns(returns: pd.DataFrame) -> pd.Series:
    return optimize("hrp", cov=covariance(returns, "sample", 252.0), fallback=()).weights


def canonical_columns(returns: pd.DataFrame) -> pd.DataFrame:
    """The columns in the data-defined order our engines read assets in: skfolio reads them in
    the order given, so the two agree when given this one."""
    order = build_problem(covariance(returns, "sample", 252.0), WeightBounds()).symbols
    return returns[list(order)]


def main() -> None:
    with_peers = "--peers" in sys.argv[1:]
    skfolio_fit = skfolio_hrp() if with_peers else None
    rows: dict[str, dict[int, str]] = {}

    def record(label: str, n_assets: int, text: str) -> None:
        rows.setdefault(label, {})[n_assets] = text

    for n_assets in SIZES:
        returns = synthetic_factor_returns(n_assets, seed=n_assets)
        repeats = 3 if n_assets <= 500 else 2
        seconds, cov_frame = best_time(covariance, repeats, returns, "ledoit_wolf", 252.0)
        record("covariance ledoit_wolf", n_assets, f"{seconds:.3f}")
        cov = cov_frame.to_numpy()

        seconds, result = best_time(optimize, repeats, "min_variance", cov=cov_frame, bounds=CAP, fallback=())
        ours = result.weights.to_numpy()
        record("min_variance ours (working set)", n_assets, f"{seconds:.3f}")
        record("  assets held", n_assets, f"{int((ours > 1e-9).sum())}")
        peer_repeats = 2 if n_assets <= 200 else 1
        for form, label in (
            ("dense", "  peer cvxpy dense quad_form"),
            ("psd_wrap", "  full problem quad_form(psd_wrap)"),
            ("cholesky", "  full problem sum_squares(L'w)"),
        ):
            seconds, weights = best_time(cvxpy_min_variance, peer_repeats, cov, form)
            record(label, n_assets, f"{seconds:.3f}")
            if form == "dense":
                gap = (ours @ cov @ ours) / (weights @ cov @ weights) - 1.0
                record("  objective gap vs dense peer", n_assets, f"{gap:+.1e}")

        mu = returns.mean() * 252.0
        seconds, result = best_time(optimize, repeats, "max_sharpe", cov=cov_frame, mu=mu, bounds=CAP, fallback=())
        ours_sharpe = result.weights
        record("max_sharpe ours (working set, 10% cap)", n_assets, f"{seconds:.3f}")
        record("  assets held", n_assets, f"{int((ours_sharpe > 1e-9).sum())}")
        seconds, theirs_sharpe = best_time(cvxpy_max_sharpe, peer_repeats, cov_frame, mu)
        record("  peer cvxpy full homogenised problem", n_assets, f"{seconds:.3f}")
        gap = sharpe_ratio(ours_sharpe, cov_frame, mu) / sharpe_ratio(theirs_sharpe, cov_frame, mu) - 1.0
        record("  Sharpe ratio gap vs the peer", n_assets, f"{gap:+.1e}")
        record("  max |w_ours - w_peer|", n_assets, f"{float((ours_sharpe - theirs_sharpe).abs().max()):.1e}")

        seconds, result = best_time(optimize, repeats, "risk_parity", cov=cov_frame, fallback=())
        spread = float(result.risk_contributions.max() - result.risk_contributions.min())
        record("risk_parity (Newton)", n_assets, f"{seconds:.3f}")
        record("  max-min risk contribution", n_assets, f"{spread:.1e}")

        seconds, _ = best_time(optimize, repeats, "hrp", cov=cov_frame, fallback=())
        record("hrp", n_assets, f"{seconds:.4f}")
        condensed = correlation_distance_from_covariance(cov)
        seconds, _ = best_time(linkage, repeats, condensed, method="ward")
        record("  floor: scipy ward linkage alone", n_assets, f"{seconds:.4f}")

        if with_peers and skfolio_fit is not None:
            seconds, ours_hrp = best_time(ours_hrp_from_returns, repeats, returns)
            record("hrp from returns: ours", n_assets, f"{seconds:.4f}")
            seconds, theirs = best_time(skfolio_fit, repeats, canonical_columns(returns))
            record("hrp from returns: skfolio", n_assets, f"{seconds:.4f}")
            difference = float((ours_hrp - theirs.reindex(ours_hrp.index)).abs().max())
            record("  max |w_ours - w_skfolio|", n_assets, f"{difference:.1e}")

    width = max(len(label) for label in rows)
    print(f"allocation kernels, {N_DAYS} days, seconds (best of runs); min variance with max_weight 0.10")
    print(f"{'':<{width}}  " + "  ".join(f"N={n:>6}" for n in SIZES))
    for label, values in rows.items():
        print(f"{label:<{width}}  " + "  ".join(f"{values.get(n, '-'):>8}" for n in SIZES))
    if with_peers and skfolio_fit is None:
        print("skfolio is not installed: run `uv sync` (it is in the dev group)")


if __name__ == "__main__":
    main()
