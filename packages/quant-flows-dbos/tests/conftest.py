"""Fixtures of the DBOS backend tests: real system databases (SQLite files, and one private
PostgreSQL cluster per test session), DBOS destroyed after each test, and `kit` (support.py: test
stages, SDKs wired to the dbos executor, a child process that SIGKILLs itself inside a stage)."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import quant_flows_dbos
from quant_flows_dbos.testing import postgres_binaries, private_postgres

TESTS = Path(__file__).parent


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One private PostgreSQL cluster for the session (`quant_flows_dbos.testing`); each test
    gets its own database in it."""
    if postgres_binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb, pg_ctl) is not installed: .ci/run installs it with apt")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed here (apt-get install postgresql)")
    with private_postgres(durable=False) as server:
        yield server


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
