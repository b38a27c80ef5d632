"""Test-session settings for the whole workspace, loaded before any test module imports numpy."""

import os

# One BLAS thread, as the `quant` command sets: reproducible reductions, no oversubscription of
# the cores by threaded BLAS under parallel test processes (see quant_cli/threads.py).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# Ray, when the driver runs under `uv run` (as `.ci/run` and nox do), starts every worker with
# `uv run` again in an uploaded copy of the working directory: a new environment per worker,
# built without the workspace's extras (no ray, no prefect in it), so workers never start. The
# workers of a test's local Ray must run this interpreter. Read by Ray at import: set it first.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
