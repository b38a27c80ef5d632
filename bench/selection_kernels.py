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
from quant_stages.kernels.inference import mps_score
from quant_stages.kernels.inference_defaults import DEFAULT_METHODS, DEFAULT_WEIGHTS
from quant_stages.kernels.policy import PolicyThresholds, apply_policy

N_DAYS = 1000
SIZES = (100, 500, 1000, 2000)
N_SECTORS = 12
EQUITY_SHARE = 0.35
LATE_LISTING_SHARE = 0.10


def synthetic_market(
    n_assets: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, pd.Series, pd.Series, pd.Series]:
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


THRESHOLDS = PolicyThresholds(
    min_liquidity=5.0, max_entropy=0.995, max_kurtosis=20.0, min_history=250, min_friction_margin=0.0
)
COLUMNS = ("N", "features", "mps", "cluster", "policy", "total", "cpu total", "corrcoef", "total/corr")


def run_selection(
    returns: pd.DataFrame, periods: pd.Series, traded: pd.Series, directions: pd.Series
) -> dict:
    """One full selection, each kernel timed on the wall clock."""
    timings: dict = {}
    start = time.perf_counter()
    features = compute_features(returns, periods, traded)
    timings["features"] = time.perf_counter() - start
    start = time.perf_counter()
    scores = mps_score(features, DEFAULT_METHODS, DEFAULT_WEIGHTS)["score"]
    timings["mps"] = time.perf_counter() - start
    start = time.perf_counter()
    clusters = cluster_assets(returns)
    timings["cluster"] = time.perf_counter() - start
    start = time.perf_counter()
    result = apply_policy(
        features, scores, clusters, directions, thresholds=THRESHOLDS, top_n_per_cluster=3, cost_bps=10.0
    )
    timings["policy"] = time.perf_counter() - start
    timings["n_clusters"] = len(clusters)
    timings["n_winners"] = len(result.winners)
    return timings


def time_size(n_assets: int, repeats: int) -> dict:
    """Best-of-`repeats` time of each kernel, the CPU time of one selection, and corrcoef's time."""
    returns, dense, periods, traded, directions = synthetic_market(n_assets, seed=n_assets)
    runs = []
    for _ in range(repeats):
        cpu_start = time.process_time()
        timings = run_selection(returns, periods, traded, directions)
        timings["cpu total"] = time.process_time() - cpu_start
        runs.append(timings)
    best = {key: min(run[key] for run in runs) for key in runs[0]}
    best["total"] = best["features"] + best["mps"] + best["cluster"] + best["policy"]
    best["corrcoef"], _ = best_of(repeats, lambda: np.corrcoef(dense, rowvar=False))
    best["total/corr"] = best["total"] / best["corrcoef"]
    return best


def time_feature_parts(n_assets: int, repeats: int) -> list[tuple[str, float]]:
    returns = synthetic_market(n_assets, seed=n_assets)[0]
    _, values = sorted_returns_array(returns)
    t_compact, (compacted, counts) = best_of(repeats, lambda: compact_observations(values))
    t_entropy, _ = best_of(repeats, lambda: permutation_entropy(compacted, counts, order=5, delay=1))
    t_hurst, _ = best_of(repeats, lambda: hurst_rescaled_range(compacted, counts, min_window=8))
    t_es, _ = best_of(repeats, lambda: expected_shortfall(compacted, counts, level=0.05))
    return [
        ("compaction", t_compact),
        ("permutation entropy", t_entropy),
        ("Hurst R/S", t_hurst),
        ("expected shortfall", t_es),
    ]


def main() -> None:
    print(f"selection kernels, {N_DAYS} days: best-of wall-clock seconds, CPU seconds of one selection")
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f} on {os.cpu_count()} cores (other processes inflate wall times)")
    header = " ".join(f"{name:>10}" for name in (*COLUMNS, "clusters", "winners"))
    print(header)
    print("-" * len(header))
    for n_assets in SIZES:
        best = time_size(n_assets, repeats=3 if n_assets <= 1000 else 2)
        cells = [f"{n_assets:>10}"] + [f"{best[name]:>10.3f}" for name in COLUMNS[1:-1]]
        cells += [f"{best['total/corr']:>10.1f}", f"{best['n_clusters']:>10}", f"{best['n_winners']:>10}"]
        print(" ".join(cells))
    print()
    print("features breakdown at N=1000:")
    for name, seconds in time_feature_parts(1000, repeats=3):
        print(f"  {name:<20} {seconds:.3f}")


if __name__ == "__main__":
    main()
