import os
import subprocess
import sys

from quant_cli.threads import BLAS_THREAD_VARIABLES, single_threaded_blas


def test_blas_defaults_to_one_thread_but_keeps_the_users_choice() -> None:
    environ = {"OMP_NUM_THREADS": "4"}
    single_threaded_blas(environ)
    assert environ == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "1"}


def test_the_command_sets_it_before_numpy_loads() -> None:
    script = (
        "import os, sys; sys.argv = ['quant', '--help']\n"
        "from quant_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(','.join(os.environ.get(n, '') for n in {BLAS_THREAD_VARIABLES!r}))"
    )
    environ = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environ, check=True)
    assert done.stdout.strip().splitlines()[-1] == "1,1,1"
