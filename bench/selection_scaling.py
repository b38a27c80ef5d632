"""Benchmark: `selection.full` end to end through the SDK, against one `numpy.corrcoef`.

For N = 100, 500, 1000 and 2000 assets of the embedded synthetic market over 1000 days, the
pipeline runs through `QuantSDK.run_pipeline` on the local executor, in a fresh QuantHome for
every run (nothing cached, every artifact written), best of two or three runs. Next to it, in the same
process, one `numpy.corrcoef` of the same returns matrix (NaN filled with 0 for this kernel only):
the irreducible N x N work any selection has to do. Printed: both times, their ratio, the CPU
time, and the per-stage breakdown from the run's ledger (`overhead` = the run's wall time minus
its stages: planning, run records, context snapshots).

Target (see /work/shared/BENCHMARKS.md): N = 1000 in <= 1.5 s and <= 20x the corrcoef kernel,
on a 2-core machine. The first run of a process pays the imports; it is timed apart.

Run: ``uv run python bench/selection_scaling.py``.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from quant_core import QuantSDK
from quant_stages.frames import get_frame

SIZES = (100, 500, 1000, 2000)
N_DAYS = 1000
#: runs per size (best kept): enough to see past a busy neighbour, and under a minute in all
REPEATS = {100: 3, 500: 3, 1000: 3, 2000: 2}
KERNEL_REPEATS = 10
STAGES = ("ingestion", "features", "inference", "clustering", "policy", "synthesis")


def params_for(n_assets: int) -> dict:
    return {"selection.ingestion": {"dataset_params": {"n_assets": n_assets, "n_days": N_DAYS}}}


def timed_run(n_assets: int, home: str) -> tuple[float, float, dict[str, float], object]:
    """Wall and CPU seconds of one selection.full run, its stage durations, and its result."""
    sdk = QuantSDK(home=home)
    wall, cpu = time.perf_counter(), time.process_time()
    result = sdk.run_pipeline("selection.full", params=params_for(n_assets), force=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stages = {e.stage_id.split(".", 1)[1]: e.duration_s for e in result.latest_attempts()}
    return wall, cpu, stages, result


def corrcoef_seconds(home: str, result) -> float:
    returns = get_frame(QuantSDK(home=home).home.artifact_store(), result.context.returns)
    values = np.nan_to_num(returns.to_numpy(dtype=np.float64), nan=0.0)
    best = float("inf")
    for _ in range(KERNEL_REPEATS):
        start = time.perf_counter()
        np.corrcoef(values, rowvar=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(f"selection.full, synthetic market, {N_DAYS} days, local executor, fresh QuantHome per run, "
          f"best of {'/'.join(str(REPEATS[n]) for n in SIZES)} runs; cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as home:
        wall, _, _, _ = timed_run(100, home)
    print(f"first run in this process (imports included), N=100: {wall:.2f} s\n")

    header = ["N", "selection.full s", "cpu s", "corrcoef ms", "ratio", *STAGES, "overhead"]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for n_assets in SIZES:
        best = None
        for _ in range(REPEATS[n_assets]):
            with tempfile.TemporaryDirectory() as home:
                wall, cpu, stages, result = timed_run(n_assets, home)
                if best is None or wall < best[0]:
                    best = (wall, cpu, stages, corrcoef_seconds(home, result))
        wall, cpu, stages, kernel = best
        row = [
            str(n_assets), f"{wall:.3f}", f"{cpu:.3f}", f"{kernel * 1e3:.1f}", f"{wall / kernel:.0f}x",
            *(f"{stages[name]:.3f}" for name in STAGES), f"{wall - sum(stages.values()):.3f}",
        ]
        print(" | ".join(row))
    print("\ntarget: N=1000 <= 1.5 s and <= 20x corrcoef (stage columns in seconds)")


if __name__ == "__main__":
    main()
