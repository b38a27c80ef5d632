"""Test-session settings for the whole workspace, loaded before any test module imports numpy."""

import os

# One BLAS thread, as the `quant` command sets: reproducible reductions, no oversubscription of
# the cores by threaded BLAS under parallel test processes (see quant_cli/threads.py).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# Ray's workers run the test session's own interpreter. Without this, under `uv run pytest` Ray
# 2.60 starts every worker with `uv run` in a copy of the working directory (a fresh environment
# without the workspace's extras, so without Ray): workers then fail to start for minutes. Set
# here, before any test module imports Ray (quant_compute_ray sets the same default itself).
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
