"""Benchmark of the covariance kernel when there are more assets than dates (N > T).

A complete returns matrix (no missing value) of N = 1000 assets (a market factor, 10 sector
factors, Student-t noise) over T = 800 dates (N > T: the sample covariance is singular) and over
T = 1200 dates (N < T), through `kernels.covariance.covariance` ("sample" and "ledoit_wolf").
Printed: the best of 5 runs, the ratio N > T / N < T (target: at most 1.2), and, in the same run,
the PSD check the kernel used to make on every matrix (`repair_to_psd`: a Cholesky factorisation,
which fails on a singular matrix, then an eigenvalue decomposition), which is what made N > T
2.4x slower. A covariance of complete data is PSD by construction and is no longer checked.

Run: ``OPENBLAS_NUM_THREADS=1 uv run python bench/covariance_shapes.py`` (about 15 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from quant_stages.kernels.covariance import covariance, repair_to_psd

N_ASSETS = 1000
SHAPES = {"N > T (T = 800)": 800, "N < T (T = 1200)": 1200}
REPEATS = 5


def factor_returns(n_days: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sector = rng.integers(0, 10, N_ASSETS)
    values = (
        rng.standard_normal((n_days, 1)) * 0.01 * rng.uniform(0.5, 1.5, N_ASSETS)
        + rng.standard_normal((n_days, 10))[:, sector] * 0.006
        + rng.standard_t(5, (n_days, N_ASSETS)) * rng.uniform(0.005, 0.03, N_ASSETS)
    )
    return pd.DataFrame(values, columns=[f"SYM{i:05d}" for i in range(N_ASSETS)])


def best(function: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    fastest, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = function(*args)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, result


def main() -> None:
    rows: dict[str, dict[str, float]] = {}
    for label, n_days in SHAPES.items():
        returns = factor_returns(n_days)
        for method in ("sample", "ledoit_wolf"):
            seconds, cov = best(covariance, returns, method, 252.0)
            rows.setdefault(f"covariance {method}", {})[label] = seconds
            check, _ = best(repair_to_psd, cov.to_numpy())
            rows.setdefault(f"  former PSD check ({method})", {})[label] = check
    labels = list(SHAPES)
    width = max(len(name) for name in rows)
    print(f"covariance, N = {N_ASSETS} assets, complete data, seconds (best of {REPEATS})")
    print(f"{'':<{width}}  " + "  ".join(f"{label:>17}" for label in labels) + "  ratio N>T / N<T")
    for name, values in rows.items():
        ratio = values[labels[0]] / values[labels[1]]
        print(f"{name:<{width}}  " + "  ".join(f"{values[label]:>17.3f}" for label in labels) + f"  {ratio:>15.2f}")


if __name__ == "__main__":
    main()
