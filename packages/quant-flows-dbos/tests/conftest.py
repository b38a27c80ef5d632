"""Fixtures of the DBOS backend tests: real system databases (SQLite files, and one private
PostgreSQL cluster per test session), SDKs wired to the dbos executor, and a child process that
runs a pipeline and SIGKILLs itself inside a chosen stage.

PostgreSQL: `initdb` into a temp dir and `pg_ctl start` on a free port with its socket in that dir;
stopped (by pg_ctl, which signals the server's own pid) at the end of the session. initdb refuses
to run as root, so as root the cluster is made and run by the `postgres` user (`runuser`).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import quant_flows_dbos

TESTS = Path(__file__).parent
PG_USER = "postgres"


# -- PostgreSQL -----------------------------------------------------------------------------------


def postgres_binaries() -> tuple[str, str] | None:
    """initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian's)."""
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
        return probe.getsockname()[1]


def as_cluster_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL cluster for the session; gives `postgresql://postgres@127.0.0.1:<port>`."""
    binaries = postgres_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb, pg_ctl) is not installed: .ci/run installs it with apt")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed here (apt-get install postgresql)")
    initdb, pg_ctl = binaries
    root = Path(tempfile.mkdtemp(prefix="qpg", dir="/tmp"))  # short: the socket path limit
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER)
        shutil.chown(sockets, PG_USER)
    port = free_port()
    run = lambda command: subprocess.run(  # noqa: E731
        as_cluster_owner(command), check=True, capture_output=True, text=True, timeout=300
    )
    try:
        run([initdb, "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync"])
        run([pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "120", "-o",
             f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {error.stderr}") from error
    try:
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}"
    finally:
        run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty DBOS system database of each kind (DBOS creates it on first launch)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dbos' / 'system.sqlite'}"
    server = request.getfixturevalue("postgres_server")
    return f"{server}/quant_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dbos' / 'system.sqlite'}"


# -- DBOS and SDKs --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def dbos_shutdown() -> Iterator[None]:
    """DBOS is one per process: each test launches its own and destroys it at the end."""
    yield
    quant_flows_dbos.shutdown()


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """`support.py`: the test stages, registries, profiles and child-process helpers (loaded by
    path: in importlib mode a test module cannot import a sibling)."""
    spec = importlib.util.spec_from_file_location("quant_flows_dbos_test_support", TESTS / "support.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
