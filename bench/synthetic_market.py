"""Benchmark of the embedded synthetic market and the data layer around it.

For N = 200 (the default), 1000 and 2000 assets over 1461 calendar days (four years), times
(best of a few runs): `generate_market`, `validate_returns` on its output, and the Parquet codec
(encode + decode). Next to them, the irreducible kernel of the generator: one
`rng.standard_t` draw of the days x assets matrix, and the ratio of the generator to it.

Run: ``uv run python bench/synthetic_market.py``. Target: the default size under 1 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from quant_stages.data.codec import frame_from_parquet_bytes, frame_to_parquet_bytes
from quant_stages.data.returns import validate_returns
from quant_stages.data.synthetic import generate_market

N_DAYS = 1461
SIZES = (200, 1000, 2000)
REPEATS = 5


def best_of(call: Callable[[], object], repeats: int = REPEATS) -> float:
    """Shortest wall time of `repeats` calls, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print(f"synthetic market, {N_DAYS} calendar days, best of {REPEATS} runs (seconds)")
    header = (
        f"{'assets':>7} {'generate':>9} {'t-draw':>8} {'ratio':>6} "
        f"{'validate':>9} {'codec':>7} {'MB':>6}"
    )
    print(header)
    print("-" * len(header))
    for n_assets in SIZES:
        generate = best_of(lambda n=n_assets: generate_market(n_assets=n, n_days=N_DAYS))
        rng = np.random.default_rng(0)
        kernel = best_of(lambda n=n_assets: rng.standard_t(5.0, size=(N_DAYS, n)))
        returns = generate_market(n_assets=n_assets, n_days=N_DAYS).returns
        validate = best_of(lambda r=returns: validate_returns(r, "synthetic"))
        codec = best_of(lambda r=returns: frame_from_parquet_bytes(frame_to_parquet_bytes(r)))
        size_mb = len(frame_to_parquet_bytes(returns)) / 1e6
        print(
            f"{n_assets:>7} {generate:>9.3f} {kernel:>8.3f} {generate / kernel:>6.1f} "
            f"{validate:>9.3f} {codec:>7.3f} {size_mb:>6.1f}"
        )


if __name__ == "__main__":
    main()
