"""Prometheus metrics of stage executions and runs (`pip install 'quant-core[prometheus]'`).

Imported only when metrics are on. Every figure comes from what the run record says (a ledger
line per stage attempt, a manifest per run), so the same code counts live in the process that
ran the work (`QuantMetrics.observe_entry`) and after the fact from the records of a `QUANT_HOME`
(`RecordCollector`, behind `quant serve-metrics`).

    quant_stage_executions_total{stage_id, executor, status}      one per stage attempt
    quant_stage_duration_seconds{stage_id, executor, cache_hit}    histogram of attempt durations
    quant_stage_cache_hits_total{stage_id, executor}               attempts served from the cache
    quant_stage_cache_misses_total{stage_id, executor}             attempts that computed
    quant_runs_total{kind, executor, status}                       finished runs (sleeve runs too)
    quant_sleeves_failed_total{executor}                           sleeve runs that failed
    quant_damaged_records{part}                                    unreadable manifests and ledger
                                                                   lines at this scrape (RecordCollector)
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, push_to_gateway, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from quant_core.errors import InvalidRunIdError, ParamValidationError, RunNotFoundError, StoreDamagedError
from quant_core.pipeline import is_fan_out_step
from quant_core.records import LedgerEntry, RecordProblem, RunManifest, RunRecord

STAGE_EXECUTIONS = "quant_stage_executions"
STAGE_DURATION = "quant_stage_duration_seconds"
CACHE_HITS = "quant_stage_cache_hits"
CACHE_MISSES = "quant_stage_cache_misses"
RUNS = "quant_runs"
SLEEVES_FAILED = "quant_sleeves_failed"
DAMAGED_RECORDS = "quant_damaged_records"

#: Stage attempts last from a millisecond (a cache hit) to an hour (a large backtest).
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)


class QuantMetrics:
    """quant's metrics in a registry of their own (never the process-global default one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        stage_labels = ("stage_id", "executor")
        self.executions = Counter(
            STAGE_EXECUTIONS, "Stage attempts, by outcome.", (*stage_labels, "status"), registry=self.registry
        )
        self.duration = Histogram(
            STAGE_DURATION, "Duration of stage attempts in seconds.", (*stage_labels, "cache_hit"),
            buckets=DURATION_BUCKETS, registry=self.registry,
        )
        self.cache_hits = Counter(CACHE_HITS, "Stage attempts served from the cache.", stage_labels, registry=self.registry)
        self.cache_misses = Counter(
            CACHE_MISSES, "Stage attempts that computed (not in the cache, or forced).", stage_labels, registry=self.registry
        )
        self.runs = Counter(RUNS, "Finished runs, by outcome.", ("kind", "executor", "status"), registry=self.registry)
        self.sleeves_failed = Counter(SLEEVES_FAILED, "Sleeve runs that failed.", ("executor",), registry=self.registry)
        # Counting is called from executor threads (Prefect, DBOS); the client's own locks guard
        # each value, this one keeps an entry's figures together for a concurrent scrape.
        self._lock = threading.Lock()
        self._children: dict[tuple[str, str, str, bool], tuple[Any, Any, Any]] = {}

    def observe_entry(self, entry: LedgerEntry) -> None:
        """One stage attempt, from its ledger line. A fan-out's own line is not a stage."""
        if is_fan_out_step(entry.stage_id):
            return
        key = (entry.stage_id, entry.executor, entry.status, entry.cache_hit)
        with self._lock:
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = self._labelled(*key)
            executions, duration, cache = children
            executions.inc()
            duration.observe(entry.duration_s)
            cache.inc()

    def _labelled(self, stage: str, executor: str, status: str, cache_hit: bool) -> tuple[Any, Any, Any]:
        """The labelled children one kind of attempt counts into (looked up once: `labels()`
        costs more than the counting)."""
        return (
            self.executions.labels(stage, executor, status),
            self.duration.labels(stage, executor, "true" if cache_hit else "false"),
            (self.cache_hits if cache_hit else self.cache_misses).labels(stage, executor),
        )

    def observe_run(self, manifest: RunManifest, status: str) -> None:
        with self._lock:
            self.runs.labels(manifest.kind, manifest.executor, status).inc()
            if manifest.parent_run_id is not None and status == "failed":
                self.sleeves_failed.labels(manifest.executor).inc()

    def observe_record(self, record: RunRecord, *, invocation_only: bool = True) -> None:
        """A run recorded elsewhere: its ledger lines (of its last invocation only, unless told)
        and, when it finished, its outcome."""
        manifest = record.read_manifest()
        for entry in record.read_ledger():
            if not invocation_only or entry.started_at >= manifest.started_at:
                self.observe_entry(entry)
        if manifest.status != "running":
            self.observe_run(manifest, manifest.status)

    def push(self, gateway_url: str, *, run_id: str | None = None) -> None:
        """Push to a Pushgateway, grouped by job `quant`, this host and the run (a short run's
        figures stay apart from every other run's)."""
        grouping = {"instance": socket.gethostname()}
        if run_id:
            grouping["run_id"] = run_id
        push_to_gateway(gateway_url, job="quant", registry=self.registry, grouping_key=grouping)


#: Which runs a `RecordCollector` counts, asked of each run's top-level run (a sleeve's parent).
RunSelection = Callable[[RunManifest], bool]


class RecordCollector(Collector):
    """The metrics of the runs recorded under a `QUANT_HOME` (those `select` accepts: all by
    default), counted afresh at each scrape (a run's parsed ledger is kept while its files are
    unchanged). A sleeve run is counted when its top-level run is.

    A damaged record does not fail the scrape: a run whose manifest cannot be read is left out,
    a damaged ledger line is not counted, and both are counted in `quant_damaged_records` (a
    torn last line, what a crash mid-write leaves, is not damage). `quant store verify` names them."""

    def __init__(self, runs_dir: Path, select: RunSelection | None = None) -> None:
        self.runs_dir = runs_dir
        self.select = select
        self._parsed: dict[str, _ParsedRun] = {}
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        metrics = QuantMetrics(CollectorRegistry(auto_describe=False))
        damaged = {"manifest": 0, "ledger_line": 0}
        with self._lock:
            runs = list(self._runs())
            damaged["manifest"] = sum(1 for parsed in runs if parsed.manifest is None and not parsed.gone)
            readable = [(p.manifest, p) for p in runs if p.manifest is not None]
            for manifest, parsed in self._selected(readable):
                damaged["ledger_line"] += sum(1 for problem in parsed.problems if not problem.torn)
                for entry in parsed.ledger:
                    metrics.observe_entry(entry)
                if manifest.status != "running":
                    metrics.observe_run(manifest, manifest.status)
        yield from metrics.registry.collect()
        gauge = GaugeMetricFamily(
            DAMAGED_RECORDS, "Run records that could not be read at this scrape (quant store verify names them).",
            labels=("part",),
        )
        for part, count in damaged.items():
            gauge.add_metric((part,), count)
        yield gauge

    def _selected(self, runs: list[tuple[RunManifest, _ParsedRun]]) -> list[tuple[RunManifest, _ParsedRun]]:
        if self.select is None:
            return runs
        manifests = {manifest.run_id: manifest for manifest, _ in runs}

        def top(manifest: RunManifest) -> RunManifest:
            seen = {manifest.run_id}
            while manifest.parent_run_id in manifests and manifest.parent_run_id not in seen:
                manifest = manifests[manifest.parent_run_id]
                seen.add(manifest.run_id)
            return manifest

        return [(manifest, parsed) for manifest, parsed in runs if self.select(top(manifest))]

    def _runs(self) -> Iterator[_ParsedRun]:
        if not self.runs_dir.is_dir():
            return
        for folder in sorted(self.runs_dir.iterdir()):
            try:
                record = RunRecord(self.runs_dir, folder.name)
            except InvalidRunIdError:
                continue  # a folder quant did not make
            stamp = _stamp(record.manifest_path, record.ledger_path)
            if stamp is None:
                continue  # not a run folder (or one being created)
            cached = self._parsed.get(folder.name)
            if cached is None or cached.stamp != stamp:
                cached = self._parsed[folder.name] = _parse(record, stamp)
            yield cached


@dataclass(frozen=True)
class _ParsedRun:
    stamp: tuple[int, ...]
    #: None when the manifest cannot be read (the run is then left out of every figure).
    manifest: RunManifest | None
    ledger: list[LedgerEntry]
    problems: list[RecordProblem]
    gone: bool = False


def _parse(record: RunRecord, stamp: tuple[int, ...]) -> _ParsedRun:
    try:
        manifest = record.read_manifest()
    except RunNotFoundError:  # removed since it was listed (`quant store gc`)
        return _ParsedRun(stamp, None, [], [], gone=True)
    except StoreDamagedError:
        return _ParsedRun(stamp, None, [], [])
    entries, problems = record.scan_ledger()
    return _ParsedRun(stamp, manifest, entries, problems)


def _stamp(manifest: Path, ledger: Path) -> tuple[int, ...] | None:
    try:
        first = os.stat(manifest)
    except FileNotFoundError:
        return None
    try:
        second = os.stat(ledger)
        return (first.st_mtime_ns, first.st_size, second.st_mtime_ns, second.st_size)
    except FileNotFoundError:
        return (first.st_mtime_ns, first.st_size)


def record_registry(runs_dir: Path, select: RunSelection | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecordCollector(runs_dir, select))
    return registry


@dataclass(frozen=True)
class MetricsEndpoint:
    """/metrics served from a background thread of this process."""

    server: Any
    host: str

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1", *, option: str = "--port") -> MetricsEndpoint:
    """Expose `registry` on http://host:port/metrics (port 0: a free one) from a background
    thread. A port that cannot be bound is a parameter error naming `option`, the flag that
    chose it."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ParamValidationError(
            f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}; choose another port with "
            f"{option} PORT (0 picks a free one; the default is telemetry.metrics_port)",
            param=option, value=port, rule="free-port",
        ) from None
    return MetricsEndpoint(server, host)


__all__ = [
    "CACHE_HITS",
    "CACHE_MISSES",
    "DAMAGED_RECORDS",
    "DURATION_BUCKETS",
    "MetricsEndpoint",
    "RUNS",
    "SLEEVES_FAILED",
    "STAGE_DURATION",
    "STAGE_EXECUTIONS",
    "QuantMetrics",
    "RecordCollector",
    "RunSelection",
    "record_registry",
    "serve",
]
