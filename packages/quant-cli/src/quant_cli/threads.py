"""One BLAS thread per process unless the user chose otherwise.

quant's work is many small and medium matrices; its parallelism is across sleeves and workers.
Threaded BLAS on top of that oversubscribes the cores: on a loaded 2-core machine the same
risk-parity solve at N=1000 took 1.1-17 s with OpenBLAS's default threads against 0.2 s with one
(bench/README.md), and threaded reductions are not bit-reproducible run to run. This must run
before numpy is first imported, so it sits at the very start of the command.
"""

from __future__ import annotations

from collections.abc import MutableMapping

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_blas(environ: MutableMapping[str, str]) -> None:
    for name in BLAS_THREAD_VARIABLES:
        environ.setdefault(name, "1")
