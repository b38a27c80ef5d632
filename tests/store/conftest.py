"""Fixtures of the store tests: one local S3 server per test session and a fresh bucket per test."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # --import-mode=importlib: make storekit importable by name
    sys.path.append(_HERE)

from storekit import CREDENTIALS, S3Server, start_s3_server  # noqa: E402


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
