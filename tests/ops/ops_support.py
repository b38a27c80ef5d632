"""Helpers of the operations tests: tiny real profiles, an OTLP/HTTP receiver on loopback, a free
port, and the `quant` console script in a subprocess. (A module of its own, on sys.path through
conftest.py: tests run in importlib mode.)"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

QUANT = Path(sys.executable).parent / "quant"

SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 24, n_days = 500 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)


def write_tiny_profiles(home: Path) -> Path:
    """`tiny_sleeve` (a portfolio on 24 synthetic assets) and `tiny_meta` (two sleeves of it)."""
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "tiny_sleeve.toml").write_text(SLEEVE, encoding="utf-8")
    (home / "profiles" / "tiny_meta.toml").write_text(META, encoding="utf-8")
    return home


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


# -- an OTLP/HTTP receiver: what a collector would get ---------------------------------------------


class OtlpReceiver:
    """Accepts OTLP/HTTP protobuf trace exports on 127.0.0.1 and keeps the spans."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        receiver = self
        self.spans: list[SimpleNamespace] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with receiver._lock:
                    receiver.spans.extend(_spans_of(request))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


def _spans_of(request: Any) -> list[SimpleNamespace]:
    """Received spans shaped like the SDK's (what `quant_core.testing.span_tree` reads)."""
    spans = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                spans.append(SimpleNamespace(
                    name=span.name,
                    context=SimpleNamespace(
                        span_id=int.from_bytes(span.span_id, "big"), trace_id=int.from_bytes(span.trace_id, "big")
                    ),
                    parent=SimpleNamespace(span_id=int.from_bytes(span.parent_span_id, "big")) if span.parent_span_id else None,
                    attributes={a.key: _value(a.value) for a in span.attributes},
                    status=SimpleNamespace(status_code=SimpleNamespace(name=_STATUS[span.status.code])),
                ))
    return spans
