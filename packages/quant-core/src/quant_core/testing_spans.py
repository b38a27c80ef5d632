"""Spans caught for tests, wherever they were made (`pip install 'quant-core[otlp]'`):

- `in_memory_tracing()` / `traced_sdk(home)`: telemetry (an SDK) whose spans, made in this process
  (the driver, a Prefect flow's threads, DBOS workflows), land in an in-memory exporter of its own;
- `check_traced_as_on_local`, `check_failed_sleeves`: a run's spans on an executor are one trace,
  the local executor's tree of the same work (`executor_neutral_tree`), and agree with the run's
  ledger; a failed sleeve is an error on its span;
- `OtlpReceiver`: an OTLP/HTTP endpoint on loopback keeping what other processes export (Ray
  workers, the `quant` command), as span-like objects `quant_core.testing.span_tree` reads.

Both only ever see spans sent to them: nothing global is set up.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from quant_core.config import QuantConfig
from quant_core.sdk import QuantSDK
from quant_core.telemetry import Telemetry
from quant_core.testing import VOLATILE_SPAN_ATTRIBUTES, span_tree

#: Span attributes left out when comparing the span trees of one run on two executors: which
#: executor, and which of two sleeves with the same stage inputs computed it and which was served
#: from the cache (sleeves run one after another locally, at once elsewhere: either may win).
ACROSS_EXECUTORS = VOLATILE_SPAN_ATTRIBUTES | {"quant.executor", "quant.cache_hit"}


def in_memory_tracing() -> tuple[Telemetry, Any]:
    """(telemetry tracing to a provider of its own, that provider's `InMemorySpanExporter`)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from quant_core.tracing import Tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Telemetry(tracing=Tracing(provider)), exporter


def traced_sdk(home: Path, **options: Any) -> tuple[QuantSDK, Any]:
    """(an SDK on `home` tracing to its own in-memory exporter, that exporter). `options` go to
    `QuantSDK` (registry, profiles, ...); no deployment configuration is read."""
    telemetry, exporter = in_memory_tracing()
    return QuantSDK(home=home, config=options.pop("config", QuantConfig.defaults()), telemetry=telemetry, **options), exporter


def one_trace(spans: Sequence[Any]) -> int:
    """The trace id all `spans` share (AssertionError if they are not one trace)."""
    trace_ids = {span.context.trace_id for span in spans}
    assert len(trace_ids) == 1, f"{len(spans)} spans in {len(trace_ids)} traces"
    return trace_ids.pop()


def executor_neutral_tree(spans: Sequence[Any]) -> list[dict[str, Any]]:
    """`span_tree` without what differs between executors running the same work."""
    return span_tree(spans, drop=ACROSS_EXECUTORS)


def stage_span_count(spans: Sequence[Any]) -> int:
    return sum(span.name.startswith("quant.stage ") for span in spans)


def check_stage_spans_against_ledger(sdk: QuantSDK, spans: Sequence[Any]) -> None:
    """Every stage span says what its attempt's ledger line says (cache hit, output hash), and
    that line names the span's trace."""
    trace_id = format(one_trace(spans), "032x")
    for span in spans:
        if not span.name.startswith("quant.stage "):
            continue
        attributes = span.attributes
        (entry,) = [
            entry for entry in sdk.record(attributes["quant.run_id"]).read_ledger()
            if entry.stage_id == attributes["quant.stage_id"] and entry.attempt == attributes["quant.attempt"]
        ]
        assert attributes["quant.cache_hit"] == entry.cache_hit, (span.name, entry)
        assert attributes.get("quant.output_hash") == entry.output_hash, (span.name, entry)
        assert entry.trace_id == trace_id, (span.name, entry)


def check_traced_as_on_local(sdk: QuantSDK, spans: Sequence[Any], local_spans: Sequence[Any], executor: str) -> None:
    """`spans` (a run on `executor`, through `sdk`) are one trace, the tree the local executor
    made of the same work (`local_spans`), every span names `executor`, and every stage span
    agrees with its ledger line."""
    assert executor_neutral_tree(spans) == executor_neutral_tree(local_spans)
    assert {span.attributes["quant.executor"] for span in spans} == {executor}
    check_stage_spans_against_ledger(sdk, spans)


def check_failed_sleeves(spans: Sequence[Any], local_spans: Sequence[Any], failed: set[str]) -> None:
    """`spans` (a meta run whose sleeves `failed` failed) are the local executor's tree, with
    ERROR on the run's span and on those sleeves' spans, OK on the other sleeves'."""
    (root,) = tree = executor_neutral_tree(spans)
    assert tree == executor_neutral_tree(local_spans)
    assert root["status"] == "ERROR"
    sleeves = {
        node["attributes"]["quant.sleeve"]: node["status"] for node in root["children"]
        if node["name"].startswith("quant.sleeve ")
    }
    assert failed <= set(sleeves)
    assert sleeves == {name: "ERROR" if name in failed else "OK" for name in sleeves}


class OtlpReceiver:
    """Accepts OTLP/HTTP protobuf trace exports on 127.0.0.1 and keeps the spans: what a
    collector would get. `endpoint` is the value for `OTEL_EXPORTER_OTLP_ENDPOINT`."""

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

    def spans_of_trace(self, trace_id: int, *, count: int, timeout: float) -> list[SimpleNamespace]:
        """The spans received of one trace, once there are `count` of them (exporters send in
        batches, after the work that made the spans). Raises AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [span for span in self.spans if span.context.trace_id == trace_id]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) == count, f"{len(found)} spans of trace {trace_id:032x} received, not {count}"
                return found
            time.sleep(0.1)

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


__all__ = [
    "ACROSS_EXECUTORS", "OtlpReceiver", "check_failed_sleeves", "check_stage_spans_against_ledger",
    "check_traced_as_on_local", "executor_neutral_tree", "in_memory_tracing", "one_trace", "stage_span_count",
    "traced_sdk",
]
