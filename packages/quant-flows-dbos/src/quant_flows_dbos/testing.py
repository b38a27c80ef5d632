"""A private PostgreSQL server for tests and benchmarks: `initdb` into a temp dir, `pg_ctl start`
on a free port with its socket in that dir, stopped by `pg_ctl stop` (the server's own pid) at the
end. Nothing else on the machine is touched.

initdb refuses to run as root: as root, the cluster is made and run by the `postgres` user (the
Debian package's) through `runuser`. The binaries are found on PATH, else in the newest
`/usr/lib/postgresql/<version>/bin` (where Debian puts them).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLUSTER_USER = "postgres"
START_TIMEOUT_S = 120


def postgres_binaries() -> tuple[str, str] | None:
    """(initdb, pg_ctl), or None when PostgreSQL's server is not installed."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    for folder in reversed(folders):
        if Path(folder, "initdb").is_file() and Path(folder, "pg_ctl").is_file():
            return str(Path(folder, "initdb")), str(Path(folder, "pg_ctl"))
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def private_postgres(*, durable: bool = True) -> Iterator[str]:
    """Start a throwaway cluster; yields `postgresql://postgres@127.0.0.1:<port>` (add `/<db>`:
    DBOS creates the database on first launch). `durable=False` turns fsync off (tests: nothing
    there outlives the machine)."""
    binaries = postgres_binaries()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)")
    initdb, pg_ctl = binaries
    root = Path(tempfile.mkdtemp(prefix="qpg", dir="/tmp"))  # short: unix socket paths are limited
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(root, CLUSTER_USER)
        shutil.chown(sockets, CLUSTER_USER)

    def run(*command: str) -> None:
        owned = ["runuser", "-u", CLUSTER_USER, "--", *command] if as_root else list(command)
        subprocess.run(owned, check=True, capture_output=True, text=True, timeout=START_TIMEOUT_S * 2)

    port = free_port()
    try:
        run(initdb, "-D", str(data), "-U", CLUSTER_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        run(pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", str(START_TIMEOUT_S), "-o",
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync={'on' if durable else 'off'}", "start")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr or error.stdout}") from error
    try:
        yield f"postgresql://{CLUSTER_USER}@127.0.0.1:{port}"
    finally:
        try:
            run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
