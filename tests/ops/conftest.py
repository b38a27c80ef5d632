"""Fixtures of the operations tests (helpers in ops_support.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)

from ops_support import write_tiny_profiles  # noqa: E402


@pytest.fixture
def tiny_home(tmp_path: Path) -> Path:
    return write_tiny_profiles(tmp_path / "home")


@pytest.fixture
def otlp_receiver() -> Iterator[Any]:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter", reason="needs quant-core[otlp]")
    from quant_core.testing_spans import OtlpReceiver

    receiver = OtlpReceiver()
    yield receiver
    receiver.close()
