"""Fixtures of the store tests: one local S3 server per test session, a fresh bucket per test, and
profiles small enough for `portfolio.full` to run in seconds."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # --import-mode=importlib: make s3server importable by name
    sys.path.append(_HERE)

from s3server import CREDENTIALS, S3Server, start_s3_server  # noqa: E402

SLEEVE_PROFILE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 24, n_days = 500 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    pytest.importorskip("moto.server", reason="the store tests need moto[server] (root dev group)")
    pytest.importorskip("s3fs", reason="the store tests need quant-core[store]")
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    # The driver's credential chain (and the workers' it starts) reads these, as it would read a
    # real deployment's; the store location itself is always handed over explicitly.
    os.environ.update(CREDENTIALS)
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"quant-{secrets.token_hex(4)}"
    s3_server.create_bucket(name)
    return name


def write_profiles(home: Path) -> None:
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "tiny_sleeve.toml").write_text(SLEEVE_PROFILE)
