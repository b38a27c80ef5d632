"""OpenTelemetry spans for runs, sleeves and stage attempts (`pip install 'quant-core[otel]'`).

Imported only when tracing is on. The span tree of a run:

    quant.run <pipeline>                      quant.run_id, quant.executor, quant.kind, quant.profile
      quant.stage <stage id>                  quant.stage_id, quant.step, quant.attempt, quant.cache_hit
      quant.sleeve <name>                     a fan-out's sleeve run (quant.sleeve, quant.parent_run_id)
        quant.stage <stage id>
      quant.stage <stage id>

Status is OK or ERROR with the error as the description (and `quant.error`); `quant.status` says
succeeded or failed. Spans go to the tracer provider given, else the process's global one; when
the process has none, one is set up as OpenTelemetry's own settings say (`OTEL_TRACES_EXPORTER`,
default `otlp`, with `OTEL_EXPORTER_OTLP_*` and `OTEL_SERVICE_NAME`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from quant_core.config import ConfigError
from quant_core.errors import MissingPackageError, QuantError
from quant_core.records import LedgerEntry, RunManifest

INSTRUMENTATION_NAME = "quant"
DEFAULT_SERVICE_NAME = "quant"
_PROPAGATOR = TraceContextTextMapPropagator()
#: The OpenTelemetry settings that name where spans go: a worker sets up tracing only with one.
EXPORTER_VARIABLES = (
    "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


class Tracing:
    def __init__(self, tracer_provider: Any = None) -> None:
        self.provider = tracer_provider
        self.tracer = trace.get_tracer(INSTRUMENTATION_NAME, tracer_provider=tracer_provider)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], *, worker: bool = False) -> Tracing:
        """The process's tracer provider; set up from the `OTEL_*` settings when there is none.

        A worker (a Ray worker, a pool process) sets one up only when an exporter is named in
        its environment; otherwise its spans are not recorded, but the trace context still
        flows through it to whatever it calls."""
        if worker and not any(environ.get(name) for name in EXPORTER_VARIABLES):
            return cls(None)
        return cls(ensure_tracer_provider(environ))

    # -- spans ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def run_span(self, manifest: RunManifest, traceparent: str | None) -> Iterator[Span]:
        attributes: dict[str, Any] = {
            "quant.run_id": manifest.run_id,
            "quant.kind": manifest.kind,
            "quant.target": manifest.target,
            "quant.executor": manifest.executor,
        }
        if manifest.profile:
            attributes["quant.profile"] = manifest.profile
        if manifest.parent_run_id:
            sleeve = manifest.run_id[len(manifest.parent_run_id) + 1 :]
            attributes.update({"quant.parent_run_id": manifest.parent_run_id, "quant.sleeve": sleeve})
            name = f"quant.sleeve {sleeve}"
        else:
            name = f"quant.run {manifest.target}"
        with self._span(name, attributes, parent=_context_of(traceparent)) as span:
            yield span

    def stage(self, record: Any, *, stage_id: str, step: int, attempt: int, executor: str) -> StageSpan:
        """The span of one stage attempt, current while the attempt runs; it stands in for the
        attempt's record and copies the attempt's ledger line onto the span."""
        attributes = {
            "quant.run_id": record.run_id, "quant.stage_id": stage_id, "quant.step": step,
            "quant.attempt": attempt, "quant.executor": executor,
        }
        return StageSpan(self.tracer, f"quant.stage {stage_id}", attributes, record)

    @contextlib.contextmanager
    def _span(self, name: str, attributes: dict[str, Any], parent: Any = None) -> Iterator[Span]:
        with self.tracer.start_as_current_span(
            name, context=parent, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except BaseException as exc:
                if "quant.error" not in _attributes(span):
                    message = str(exc) if isinstance(exc, QuantError) else f"{type(exc).__name__}: {exc}"
                    span.set_attributes({"quant.status": "failed", "quant.error": message})
                    span.set_status(Status(StatusCode.ERROR, message))
                span.record_exception(exc)
                raise
            if "quant.status" not in _attributes(span):
                span.set_attribute("quant.status", "succeeded")
                span.set_status(Status(StatusCode.OK))

    # -- crossing processes -----------------------------------------------------------------------

    def traceparent(self) -> str | None:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")

    def trace_id(self) -> str | None:
        span_context = trace.get_current_span().get_span_context()
        return format(span_context.trace_id, "032x") if span_context.is_valid else None

    @contextlib.contextmanager
    def attached(self, traceparent: str) -> Iterator[None]:
        token = otel_context.attach(_context_of(traceparent))
        try:
            yield
        finally:
            otel_context.detach(token)

    def flush(self) -> None:
        provider = self.provider if self.provider is not None else trace.get_tracer_provider()
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush()


class StageSpan:
    """A stage attempt's span (a plain context manager: it is on every stage's path, and the
    generator-based ones cost more than the span itself). Stands in for the attempt's record."""

    __slots__ = ("_attributes", "_described", "_name", "_record", "_span", "_token", "_tracer")

    def __init__(self, tracer: Any, name: str, attributes: dict[str, Any], record: Any) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._record = record
        self._described = False

    def __enter__(self) -> StageSpan:
        self._span = self._tracer.start_span(self._name, attributes=self._attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        span = self._span
        if error is not None:
            if not self._described:
                message = str(error) if isinstance(error, QuantError) else f"{type(error).__name__}: {error}"
                span.set_attributes({"quant.status": "failed", "quant.error": message})
                span.set_status(Status(StatusCode.ERROR, message))
            span.record_exception(error)
        otel_context.detach(self._token)
        span.end()

    # -- the record's part ------------------------------------------------------------------------

    def append_ledger(self, entry: LedgerEntry) -> None:
        self._record.append_ledger(entry)
        attributes: dict[str, Any] = {"quant.cache_hit": entry.cache_hit, "quant.status": entry.status}
        if entry.output_hash:
            attributes["quant.output_hash"] = entry.output_hash
        if entry.node:
            attributes["quant.node"] = entry.node
        if entry.worker:
            attributes["quant.worker"] = entry.worker
        if entry.error:
            attributes["quant.error"] = entry.error
        self._span.set_attributes(attributes)
        self._span.set_status(Status(StatusCode.ERROR, entry.error) if entry.error else Status(StatusCode.OK))
        self._described = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)


def _attributes(span: Span) -> Any:
    return getattr(span, "attributes", None) or {}  # a span that is not recorded has none


def _context_of(traceparent: str | None) -> Any:
    return _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None


def ensure_tracer_provider(environ: Mapping[str, str]) -> Any:
    """The global tracer provider; when the process has none yet, an SDK provider exporting as
    `OTEL_TRACES_EXPORTER` says (`otlp`, the default; `console`; `none`), registered globally so
    an engine's own spans (Ray, Prefect) join the same traces."""
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return current
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise MissingPackageError("tracing (the OpenTelemetry SDK)", "quant-core[otel]") from None
    service = environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    for exporter_name in (environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(","):
        exporter_name = exporter_name.strip()
        if exporter_name == "none":
            continue
        if exporter_name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter_name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(environ)))
        else:
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER={exporter_name!r}: quant sets up 'otlp', 'console' or 'none' "
                "(configure any other exporter in your own tracer provider)",
                key="OTEL_TRACES_EXPORTER", value=exporter_name,
            )
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        package = "opentelemetry-exporter-otlp-proto-grpc" if protocol == "grpc" else "quant-core[otlp]"
        raise MissingPackageError(
            f"exporting spans over OTLP ({protocol}; OTEL_TRACES_EXPORTER=console or none need nothing)", package
        ) from None
    return OTLPSpanExporter()


__all__ = ["Tracing", "ensure_tracer_provider"]
