"""Test-session settings for the whole workspace, loaded before any test module imports numpy."""

import os

# One BLAS thread, as the `quant` command sets: reproducible reductions, no oversubscription of
# the cores by threaded BLAS under parallel test processes (see quant_cli/threads.py).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
