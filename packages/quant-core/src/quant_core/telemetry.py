"""The instrumentation seam: what every executor reports, through hooks in core.

`recorded_run` opens a run's span (a sleeve's run is a sleeve span, child of its parent run's) and
counts its ledger lines as metrics; `execute_stage` opens one span per stage attempt; `run_attempt`
takes the W3C `traceparent` of the driver's run span, so an attempt on a Ray worker, in a Prefect
task or a DBOS step joins the same trace. Executors get all of it by using those helpers.

Off by default, and then free: `Telemetry.off()` hands the record back unchanged and imports
neither OpenTelemetry nor prometheus-client. On, tracing lives in `quant_core.tracing`
(`quant-core[otel]`) and metrics in `quant_core.metrics` (`quant-core[prometheus]`).

Metrics are counted where run records are written (the driver), from the ledger lines, so an
attempt that ran on a worker is counted once, on the driver, whatever engine carried it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from quant_core.config import TelemetrySettings
from quant_core.errors import MissingPackageError, QuantError

if TYPE_CHECKING:  # pragma: no cover
    from quant_core.metrics import QuantMetrics
    from quant_core.records import LedgerEntry, RunManifest, RunRecord
    from quant_core.tracing import Tracing


class Telemetry:
    """Tracing and metrics for one process (or one SDK). Picklable: on a worker it comes back
    with tracing only (the driver counts the metrics)."""

    def __init__(
        self,
        *,
        tracing: Tracing | None = None,
        metrics: QuantMetrics | None = None,
        pushgateway_url: str | None = None,
    ) -> None:
        self.tracing = tracing
        self.metrics = metrics
        self.pushgateway_url = pushgateway_url

    @classmethod
    def off(cls) -> Telemetry:
        return cls()

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> Telemetry:
        """What the settings ask for, nothing more: with both off, nothing is imported."""
        return cls(
            tracing=_tracing_from_environment() if settings.tracing else None,
            metrics=_new_metrics() if settings.metrics else None,
            pushgateway_url=settings.pushgateway_url,
        )

    @property
    def enabled(self) -> bool:
        return self.tracing is not None or self.metrics is not None

    def __reduce__(self) -> tuple[Any, ...]:
        # A tracer provider or a metrics registry does not cross processes; a worker traces with
        # its own process's provider, and its attempts are counted by the driver.
        return (_worker_telemetry, (self.tracing is not None,))

    # -- hooks called by core ---------------------------------------------------------------------

    def run(
        self, record: RunRecord, manifest: RunManifest, *, traceparent: str | None = None
    ) -> contextlib.AbstractContextManager[Any]:
        """Around a run: its span (child of `traceparent`, else of the current span) and its
        metrics. Gives the record the run writes through (the same one when telemetry is off)."""
        if self.tracing is None and self.metrics is None:
            return contextlib.nullcontext(record)
        return self._observed_run(record, manifest, traceparent)

    @contextlib.contextmanager
    def _observed_run(self, record: RunRecord, manifest: RunManifest, traceparent: str | None) -> Iterator[Any]:
        observed = _MetricsRecord(record, self.metrics) if self.metrics is not None else record
        status = "failed"
        try:
            if self.tracing is None:
                yield observed
            else:
                with self.tracing.run_span(manifest, traceparent):
                    yield observed
            status = "succeeded"
        finally:
            if self.metrics is not None:
                self.metrics.observe_run(manifest, status)

    def stage(
        self, record: Any, *, stage_id: str, step: int, attempt: int, executor: str
    ) -> contextlib.AbstractContextManager[Any]:
        """Around one stage attempt: its span, filled in from the attempt's ledger line. Gives
        the record the attempt writes through (the same one when tracing is off)."""
        if self.tracing is None:
            return contextlib.nullcontext(record)
        return self.tracing.stage(record, stage_id=stage_id, step=step, attempt=attempt, executor=executor)

    def traceparent(self) -> str | None:
        """The current span as a W3C traceparent, for handing to a worker (None when off)."""
        return self.tracing.traceparent() if self.tracing is not None else None

    def trace_id(self) -> str | None:
        """The current span's trace id as 32 hex digits, for the ledger (None when off, or when
        no span is current)."""
        return self.tracing.trace_id() if self.tracing is not None else None

    @contextlib.contextmanager
    def attach(self, traceparent: str | None) -> Iterator[None]:
        """Make `traceparent` (a span of another process) the current parent."""
        if self.tracing is None or not traceparent:
            yield
            return
        with self.tracing.attached(traceparent):
            yield

    def observe_record(self, record: RunRecord) -> None:
        """Count a run another process recorded (a process-pool sleeve): its last invocation's
        ledger lines and its outcome."""
        if self.metrics is not None:
            self.metrics.observe_record(record)

    # -- the end of a process's work --------------------------------------------------------------

    def flush(self, *, run_id: str | None = None) -> None:
        """Export pending spans; push the metrics to the Pushgateway when one is configured."""
        if self.tracing is not None:
            self.tracing.flush()
        if self.metrics is not None and self.pushgateway_url:
            try:
                self.metrics.push(self.pushgateway_url, run_id=run_id)
            except OSError as exc:  # urllib's URLError and HTTPError included
                raise TelemetryExportError(f"could not push the metrics to {self.pushgateway_url}: {exc}") from exc


class TelemetryExportError(QuantError):
    """Spans or metrics could not be handed to where the settings send them."""


class _MetricsRecord:
    """The run's record, counting every ledger line written through it."""

    def __init__(self, record: Any, metrics: QuantMetrics) -> None:
        self._record = record
        self._metrics = metrics

    def append_ledger(self, entry: LedgerEntry) -> None:
        self._record.append_ledger(entry)
        self._metrics.observe_entry(entry)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)


def _worker_telemetry(tracing: bool) -> Telemetry:
    return Telemetry(tracing=_tracing_from_environment(worker=True) if tracing else None)


def _tracing_from_environment(*, worker: bool = False) -> Tracing:
    try:
        from quant_core.tracing import Tracing
    except ImportError:
        raise MissingPackageError("tracing (telemetry.tracing)", "quant-core[otel]") from None
    return Tracing.from_environment(os.environ, worker=worker)


def metrics_module() -> Any:
    """`quant_core.metrics`, or an error saying what to install."""
    try:
        import quant_core.metrics
    except ImportError:
        raise MissingPackageError("Prometheus metrics", "quant-core[prometheus]") from None
    return quant_core.metrics


def _new_metrics() -> QuantMetrics:
    return metrics_module().QuantMetrics()


__all__ = ["Telemetry", "TelemetryExportError", "metrics_module"]
