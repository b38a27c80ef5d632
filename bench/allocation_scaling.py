"""Benchmark of allocation at stage level, and of `meta.full` on the `demo` profile.

Part 1, `allocation.optimize` for N = 50, 200, 500 and 1000 atoms over 756 weekday dates (a seeded
market: one market factor, 10 sector factors, Student-t idiosyncratic noise; the sectors are the
clusters), with min variance (10% cap), risk parity and HRP, Ledoit-Wolf covariance (the stage's
default). Each figure is the best of a few runs (one run for the stage at N >= 500):

* cov      `kernels.covariance.covariance(..., "ledoit_wolf")`: the estimate the stage makes first;
* kernel   `kernels.allocation.optimize` on that covariance (the engine alone, as in
           `bench/allocation_kernels.py`);
* stage    `QuantSDK.run_stage("allocation.optimize", force=True)` on a context that holds the
           atoms' returns as an artifact, as `selection.synthesis` leaves it: Parquet decode of the
           returns, `allocate_atoms` (estimate + engine + weights table), the weights artifact,
           the run record (manifest, ledger, context snapshot) and the cache entry;
* wrapper  stage - cov - kernel: what the stage adds around the two kernels.

Part 2, `meta.full` on the `demo` profile: cold on a fresh QuantHome (every stage of the three
sleeves and the four meta stages run), then cached (the same pipeline again on that QuantHome: every
step is a cache hit). numpy, pandas, scipy and cvxpy are already imported by part 1, so the cold
figure is the work, not those imports; matplotlib is imported by `meta.report` on first use and
counts in its cold time. Wall and CPU time of this process, and the ledger's slowest steps.

Run: ``uv run python bench/allocation_scaling.py [--no-meta]``. On a shared machine, compare with
``OPENBLAS_NUM_THREADS=1``: OpenBLAS's threads spin for a core when the machine is loaded, and the
dense solves of risk parity's Newton steps then take tens of times longer (see bench/README.md).
Targets (BENCHMARKS.md): min variance <= 0.3 s and HRP <= 0.1 s at N = 1000 (kernel);
`quant demo` <= 60 s cold and <= 2 s from the cache.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from quant_core import QuantSDK
from quant_core.context import SelectionContext

from quant_stages.data.returns import periods_per_year
from quant_stages.frames import get_frame, put_frame
from quant_stages.kernels.allocation import optimize
from quant_stages.kernels.constraints import WeightBounds
from quant_stages.kernels.covariance import covariance

SIZES = (50, 200, 500, 1000)
N_DAYS = 756
N_SECTORS = 10
ENGINES: dict[str, dict[str, Any]] = {
    "min_variance": {"engine": "min_variance", "max_weight": 0.10},
    "risk_parity": {"engine": "risk_parity"},
    "hrp": {"engine": "hrp"},
}


def best_time(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Shortest wall time of `repeats` calls (the least disturbed by other load), and the result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def factor_market(n_assets: int, seed: int) -> tuple[pd.DataFrame, list[dict[str, str]], dict[str, list[str]]]:
    """Atom returns (weekday dates x atom ids), the atoms and the sector clusters of their assets."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-04", periods=N_DAYS, freq="B", tz="UTC", name="date")
    beta = rng.uniform(0.5, 1.5, n_assets)
    sector = rng.integers(0, N_SECTORS, n_assets)
    loading = rng.uniform(0.3, 1.0, n_assets)
    idio = rng.uniform(0.005, 0.03, n_assets)
    values = (
        rng.normal(0.0003, 0.01, (N_DAYS, 1)) * beta
        + rng.normal(0.0, 0.006, (N_DAYS, N_SECTORS))[:, sector] * loading
        + rng.standard_t(5, (N_DAYS, n_assets)) * idio / np.sqrt(5 / 3)
    )
    symbols = [f"BENCH:A{i:05d}" for i in range(n_assets)]
    atoms = [{"id": f"{s}|buy_and_hold|long", "asset": s, "logic": "buy_and_hold", "direction": "long"} for s in symbols]
    clusters: dict[str, list[str]] = {}
    for symbol, code in zip(symbols, sector):
        clusters.setdefault(f"c{code + 1:02d}", []).append(symbol)
    returns = pd.DataFrame(values, index=dates, columns=[a["id"] for a in atoms])
    return returns, atoms, {k: clusters[k] for k in sorted(clusters)}


def allocation_table(sdk: QuantSDK) -> None:
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"allocation.optimize, {N_DAYS} weekday dates, Ledoit-Wolf covariance, best of 1-3 runs (seconds); "
          f"OPENBLAS_NUM_THREADS={threads}")
    header = f"{'assets':>6} {'engine':<13} {'cov':>6} {'kernel':>7} {'stage':>7} {'wrapper':>8} {'held':>5}  solver status"
    print(header)
    print("-" * len(header))
    store = sdk.home.artifact_store()
    sdk.run_stage("allocation.optimize", context=_context(store, 50), params={"engine": "hrp"})  # registry, imports
    for n_assets in SIZES:
        returns, atoms, clusters = factor_market(n_assets, seed=n_assets)
        context = _context(store, n_assets)
        repeats = 3 if n_assets <= 200 else 2
        cov_s, cov = best_time(lambda: covariance(returns, "ledoit_wolf", periods_per_year(returns)), repeats)
        for label, options in ENGINES.items():
            bounds = WeightBounds(max_weight=options.get("max_weight", 1.0))
            kernel_s, _ = best_time(lambda: optimize(options["engine"], cov=cov, bounds=bounds, fallback=()), repeats)
            stage_s, run = best_time(
                lambda: sdk.run_stage("allocation.optimize", context=context, params=options, force=True),
                repeats if n_assets <= 200 else 1,
            )
            held = int((get_frame(store, run.context.weights)["weight"] > 1e-9).sum())
            record = run.context.allocation
            print(
                f"{n_assets:>6} {label:<13} {cov_s:>6.3f} {kernel_s:>7.3f} {stage_s:>7.3f} "
                f"{stage_s - cov_s - kernel_s:>8.3f} {held:>5}  {record['engine']} {record['solver_status']}"
            )


def _context(store: Any, n_assets: int) -> SelectionContext:
    """What selection.synthesis leaves for allocation.optimize: atoms, clusters, atom returns."""
    returns, atoms, clusters = factor_market(n_assets, seed=n_assets)
    return SelectionContext(
        run_id=f"bench-{n_assets}", strategy_atoms=atoms, clusters=clusters,
        artifacts={"atom_returns": put_frame(store, returns)},
    )


def meta_demo_table() -> None:
    with tempfile.TemporaryDirectory(prefix="quant-bench-") as home:
        sdk = QuantSDK(home=home)
        runs = []
        for label in ("cold", "cached"):
            wall, cpu = time.perf_counter(), time.process_time()
            result = sdk.run_pipeline("meta.full", profile="demo")
            runs.append((label, time.perf_counter() - wall, time.process_time() - cpu, result))
        cold = sdk.expanded(runs[0][3].context)  # the sleeve results may be kept as an artifact
    print()
    print("meta.full on the demo profile (three sleeves, local executor, one process; seconds)")
    header = f"{'run':<7} {'wall':>7} {'CPU':>7} {'cache hits':>11}  slowest steps (wall)"
    print(header)
    print("-" * len(header))
    for label, wall_s, cpu_s, result in runs:
        steps = sorted(result.latest_attempts(), key=lambda e: e.duration_s, reverse=True)[:2]
        slowest = ", ".join(f"{e.stage_id} {e.duration_s:.2f}" for e in steps)
        print(f"{label:<7} {wall_s:>7.2f} {cpu_s:>7.2f} {result.cache_hits:>5}/{len(result.ledger):<5}  {slowest}")
    sleeves = {r.name: r.summary.get("windows") for r in cold.sleeve_results}
    print(f"sleeves (walk-forward windows): {sleeves}; meta weights: "
          + ", ".join(f"{k} {v:.3f}" for k, v in sorted(cold.meta_weights.items())))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="quant-bench-") as home:
        allocation_table(QuantSDK(home=home))
    if "--no-meta" not in sys.argv[1:]:
        meta_demo_table()


if __name__ == "__main__":
    main()
