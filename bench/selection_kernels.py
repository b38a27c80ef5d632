"""Benchmark of the selection kernels: features -> MPS score -> clustering -> policy.

Synthetic market (seeded): 1000 calendar days, N assets driven by 12 sector factors plus noise;
35% of the columns are equities with NaN on weekends (about 10% NaN overall) and 10% of the
assets are listed late. Each kernel is timed (best of a few runs) for N = 100, 500, 1000, 2000,
next to one ``numpy.corrcoef`` of the NaN-free matrix, the irreducible N x N kernel.

Run: ``uv run python bench/selection_kernels.py``. Target: the whole selection under 1.5 s at
N = 1000 on a 2-core machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from quant_stages.kernels.clustering import cluster_assets
from quant_stages.kernels.features import (
    compact_observations,
    compute_features,
    expected_shortfall,
    hurst_rescaled_range,
    permutation_entropy,
    sorted_returns_array,
)
from quant_stages.kernels.inference import DEFAULT_METHODS, DEFAULT_WEIGHTS, mps_score
from quant_stages.kernels.policy import PolicyThresholds, apply_policy

N_DAYS = 1000
SIZES = (100, 500, 1000, 2000)
N_SECTORS = 12
EQUITY_SHARE = 0.35
LATE_LISTING_SHARE = 0.10


def synthetic_market(n_assets: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, pd.Series, pd.Series, pd.Series]:
    """Returns with NaN gaps, the same matrix without NaN, periods per year, value traded, directions."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-01", periods=N_DAYS, freq="D", tz="UTC", name="date")
    sector = rng.integers(0, N_SECTORS, n_assets)
    factors = rng.standard_normal((N_DAYS, N_SECTORS)) * 0.02
    loadings = rng.uniform(0.5, 1.5, n_assets)
    drift = rng.normal(0.0, 0.001, n_assets)
    noise = rng.standard_t(5, (N_DAYS, n_assets)) * rng.uniform(0.005, 0.03, n_assets)
    dense = np.clip(drift + factors[:, sector] * loadings + noise, -0.9, None)
    symbols = [f"SYM{i:05d}" for i in range(n_assets)]
    gappy = dense.copy()
    equity = rng.random(n_assets) < EQUITY_SHARE
    weekend = np.asarray(dates.day_of_week >= 5)
    gappy[np.ix_(weekend, equity)] = np.nan
    late = np.flatnonzero(rng.random(n_assets) < LATE_LISTING_SHARE)
    for column in late:
        gappy[: rng.integers(100, 700), column] = np.nan
    returns = pd.DataFrame(gappy, index=dates, columns=symbols)
    periods = pd.Series(np.where(equity, 252.0, 365.0), index=symbols)
    traded = pd.Series(10.0 ** rng.uniform(4, 10, n_assets), index=symbols)
    directions = pd.Series(np.where(rng.random(n_assets) < 0.8, "long", "short"), index=symbols)
    return returns, dense, periods, traded, directions


def best_of(repeats: int, call: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    thresholds = PolicyThresholds(min_liquidity=5.0, max_entropy=0.995, max_kurtosis=20.0, min_history=250, min_friction_margin=0.0)
    header = f"{'N':>6} {'features':>9} {'mps':>7} {'cluster':>8} {'policy':>7} {'total':>7} {'corrcoef':>9} {'total/corr':>11} {'clusters':>9} {'winners':>8}"
    print(f"selection kernels, {N_DAYS} days, best-of wall-clock timings in seconds")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other processes inflate the timings)")
    print(header)
    print("-" * len(header))
    breakdown = []
    for n_assets in SIZES:
        returns, dense, periods, traded, directions = synthetic_market(n_assets, seed=n_assets)
        repeats = 3 if n_assets <= 1000 else 2
        t_features, features = best_of(repeats, lambda: compute_features(returns, periods, traded))
        t_mps, scored = best_of(repeats, lambda: mps_score(features, DEFAULT_METHODS, DEFAULT_WEIGHTS))
        t_cluster, clusters = best_of(repeats, lambda: cluster_assets(returns))
        t_policy, result = best_of(
            repeats,
            lambda: apply_policy(
                features, scored["score"], clusters, directions, thresholds=thresholds, top_n_per_cluster=3, cost_bps=10.0
            ),
        )
        t_corr, _ = best_of(repeats, lambda: np.corrcoef(dense, rowvar=False))
        total = t_features + t_mps + t_cluster + t_policy
        print(
            f"{n_assets:>6} {t_features:>9.3f} {t_mps:>7.3f} {t_cluster:>8.3f} {t_policy:>7.3f} {total:>7.3f}"
            f" {t_corr:>9.3f} {total / t_corr:>11.1f} {len(clusters):>9} {len(result.winners):>8}"
        )
        if n_assets == 1000:
            _, values = sorted_returns_array(returns)
            t_compact, (compacted, counts) = best_of(repeats, lambda: compact_observations(values))
            t_entropy, _ = best_of(repeats, lambda: permutation_entropy(compacted, counts, order=5, delay=1))
            t_hurst, _ = best_of(repeats, lambda: hurst_rescaled_range(compacted, counts, min_window=8))
            t_es, _ = best_of(repeats, lambda: expected_shortfall(compacted, counts, level=0.05))
            breakdown = [("compaction", t_compact), ("permutation entropy", t_entropy), ("Hurst R/S", t_hurst), ("expected shortfall", t_es)]
    print()
    print("features breakdown at N=1000:")
    for name, seconds in breakdown:
        print(f"  {name:<20} {seconds:.3f}")


if __name__ == "__main__":
    main()
