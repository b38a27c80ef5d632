"""Helpers of the operations tests: tiny real profiles, a free port, and the `quant` console script
in a subprocess (the OTLP/HTTP receiver on loopback is `quant_core.testing_spans.OtlpReceiver`).
(A module of its own, on sys.path through conftest.py: tests run in importlib mode.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from quant_core.testing import write_tiny_profiles

QUANT = Path(sys.executable).parent / "quant"
__all__ = ["QUANT", "free_port", "quant", "quant_env", "write_tiny_profiles"]


def quant_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `quant` subprocess: this one's, minus settings that would change
    where it writes or what it sets up, plus `extra`."""
    dropped = ("COLUMNS", "QUANT_CONFIG", "QUANT_EXECUTOR", "QUANT_TRACING", "QUANT_METRICS", "QUANT_PUSHGATEWAY_URL")
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("OTEL_")}
    return env | {"QUANT_HOME": str(home)} | extra


def quant(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUANT), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
