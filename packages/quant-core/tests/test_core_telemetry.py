"""Traces and metrics through core's seam: the span tree of a meta run, cache hits, failures,
the trace context carried into a remote attempt, metrics counted once (live and from the
records alike), and nothing imported or set up when telemetry is off."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="needs quant-core[otel]")
prometheus = pytest.importorskip("prometheus_client", reason="needs quant-core[prometheus]")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from quant_core import ProfileCatalog, QuantHome, QuantSDK, SleeveFailureError  # noqa: E402
from quant_core.config import QuantConfig, TelemetrySettings  # noqa: E402
from quant_core.metrics import QuantMetrics, record_registry  # noqa: E402
from quant_core.remote import run_attempt  # noqa: E402
from quant_core.telemetry import Telemetry  # noqa: E402
from quant_core.testing import span_tree, toy_profiles, toy_registry  # noqa: E402
from quant_core.tracing import Tracing  # noqa: E402


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exporter: InMemorySpanExporter) -> Telemetry:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Telemetry(tracing=Tracing(provider), metrics=QuantMetrics())


def traced_sdk(home: QuantHome, telemetry: Telemetry, failing: tuple[str, ...] = ()) -> QuantSDK:
    return QuantSDK(
        home=home, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles(failing)]),
        config=QuantConfig.defaults(), telemetry=telemetry,
    )


def stage_node(stage_id: str, step: int, *, cache_hit: bool, status: str = "succeeded") -> dict:
    return {
        "name": f"quant.stage {stage_id}",
        "attributes": {
            "quant.stage_id": stage_id, "quant.step": step, "quant.attempt": 1, "quant.executor": "local",
            "quant.cache_hit": cache_hit, "quant.status": status,
        },
        "status": "OK" if status == "succeeded" else "ERROR",
        "children": [],
    }


def without(tree: list[dict], key: str) -> list[dict]:
    """The tree with one attribute left out (e.g. output hashes, checked on their own)."""
    return [
        node | {"attributes": {k: v for k, v in node["attributes"].items() if k != key},
                "children": without(node["children"], key)}
        for node in tree
    ]


def test_the_span_tree_of_a_meta_run(home: QuantHome, telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    result = traced_sdk(home, telemetry).run_pipeline("toy.meta", profile="trio", run_id="traced")
    spans = exporter.get_finished_spans()
    assert len({span.context.trace_id for span in spans}) == 1  # one run, one trace

    def sleeve(name: str, profile: str, *, cached: bool = False) -> dict:
        stages = [stage_node(s, i, cache_hit=cached) for i, s in enumerate(("toy.seed", "toy.scale", "toy.sum"), 1)]
        return {
            "name": f"quant.sleeve {name}",
            "attributes": {"quant.kind": "pipeline", "quant.target": "toy.portfolio", "quant.executor": "local",
                           "quant.profile": profile, "quant.sleeve": name, "quant.status": "succeeded"},
            "status": "OK", "children": stages,
        }

    expected = [{
        "name": "quant.run toy.meta",
        "attributes": {"quant.kind": "pipeline", "quant.target": "toy.meta", "quant.executor": "local",
                       "quant.profile": "trio", "quant.status": "succeeded"},
        "status": "OK",
        # gamma runs alpha's profile: the cache serves it
        "children": [sleeve("alpha", "small"), sleeve("beta", "large"), sleeve("gamma", "small", cached=True),
                     stage_node("toy.meta_total", 2, cache_hit=False)],
    }]
    tree = span_tree(spans)
    assert without(tree, "quant.output_hash") == expected
    # each stage span carries the output hash its ledger line recorded
    meta_total = tree[0]["children"][-1]["attributes"]["quant.output_hash"]
    assert meta_total == result.latest_attempts()[-1].output_hash
    root = next(s for s in spans if s.parent is None)
    assert root.attributes["quant.run_id"] == "traced"


def test_a_cached_rerun_marks_every_stage_a_cache_hit(home: QuantHome, telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    sdk = traced_sdk(home, telemetry)
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="first")
    exporter.clear()
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="second")
    stages = [s for s in exporter.get_finished_spans() if s.name.startswith("quant.stage")]
    assert [(s.attributes["quant.stage_id"], s.attributes["quant.cache_hit"]) for s in stages] == [
        ("toy.seed", True), ("toy.scale", True), ("toy.sum", True),
    ]


def test_a_failed_sleeve_is_an_error_span_naming_the_error(home: QuantHome, telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    with pytest.raises(SleeveFailureError):
        traced_sdk(home, telemetry, failing=("beta",)).run_pipeline("toy.meta", profile="trio", run_id="bad")
    spans = {s.name: s for s in exporter.get_finished_spans() if s.attributes.get("quant.sleeve") in (None, "beta")}
    root, sleeve = spans["quant.run toy.meta"], spans["quant.sleeve beta"]
    failed_stage = next(
        s for s in exporter.get_finished_spans()
        if s.name == "quant.stage toy.scale" and s.parent.span_id == sleeve.context.span_id
    )
    assert failed_stage.status.status_code.name == "ERROR"
    assert failed_stage.attributes["quant.status"] == "failed"
    assert failed_stage.attributes["quant.error"] == "RuntimeError: toy.scale was asked to fail"
    assert sleeve.status.status_code.name == "ERROR" and sleeve.attributes["quant.status"] == "failed"
    assert root.status.status_code.name == "ERROR"
    assert root.attributes["quant.error"].startswith("1 sleeve(s) failed in run 'bad': beta:")
    assert [e.name for e in root.events] == ["exception"]


def test_a_remote_attempt_joins_the_trace_it_is_handed(home: QuantHome, telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    sdk = traced_sdk(home, telemetry)
    with telemetry.tracing.tracer.start_as_current_span("driver") as driver:
        traceparent = telemetry.traceparent()
    assert traceparent.startswith(f"00-{driver.get_span_context().trace_id:032x}-{driver.get_span_context().span_id:016x}-")
    # a worker's runtime: pickled, so tracing only, here with the test's provider
    outcome = run_attempt(
        sdk.runtime(), run_id="remote", step=1, stage_id="toy.seed", context={"kind": "selection", "run_id": "remote"},
        params={"n": 2}, executor="ray", traceparent=traceparent,
    )
    assert outcome.succeeded
    (stage,) = [s for s in exporter.get_finished_spans() if s.name == "quant.stage toy.seed"]
    assert stage.parent.span_id == driver.get_span_context().span_id
    assert stage.context.trace_id == driver.get_span_context().trace_id
    assert stage.attributes["quant.executor"] == "ray"


def test_each_attempts_ledger_line_names_its_trace(home: QuantHome, telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    sdk = traced_sdk(home, telemetry)
    sdk.run_pipeline("toy.meta", profile="trio", run_id="named")
    (trace_id,) = {f"{span.context.trace_id:032x}" for span in exporter.get_finished_spans()}
    runs = ("named", "named.alpha", "named.beta", "named.gamma")
    lines = [entry for run_id in runs for entry in sdk.record(run_id).read_ledger()]
    # the fan-out's own line is the run's, not an attempt's: it has no span of its own
    assert {entry.trace_id for entry in lines if not entry.stage_id.startswith("fan_out.")} == {trace_id}

    untraced = QuantSDK(home=home, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]), config=QuantConfig.defaults())
    result = untraced.run_pipeline("toy.portfolio", profile="small", run_id="untraced")
    assert [entry.trace_id for entry in result.ledger] == [None, None, None]


def test_a_worker_that_exports_no_spans_still_names_the_trace(home: QuantHome, telemetry: Telemetry) -> None:
    with telemetry.tracing.tracer.start_as_current_span("driver") as driver:
        traceparent = telemetry.traceparent()
    # a worker without OTEL_* exporter settings: tracing on, its spans not recorded
    worker = dataclasses.replace(traced_sdk(home, telemetry).runtime(), telemetry=Telemetry(tracing=Tracing(None)))
    outcome = run_attempt(
        worker, run_id="remote", step=1, stage_id="toy.seed", context={"kind": "selection", "run_id": "remote"},
        params={"n": 2}, executor="ray", traceparent=traceparent,
    )
    assert [entry.trace_id for entry in outcome.ledger] == [f"{driver.get_span_context().trace_id:032x}"]


def test_metrics_count_each_attempt_once(home: QuantHome, telemetry: Telemetry) -> None:
    sdk = traced_sdk(home, telemetry, failing=("beta",))
    with pytest.raises(SleeveFailureError):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="counted")
    registry = telemetry.metrics.registry

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert value("quant_stage_executions_total", stage_id="toy.seed", executor="local", status="succeeded") == 3
    assert value("quant_stage_executions_total", stage_id="toy.scale", executor="local", status="succeeded") == 2
    assert value("quant_stage_executions_total", stage_id="toy.scale", executor="local", status="failed") == 1
    # gamma runs alpha's profile: served from the cache
    assert value("quant_stage_cache_misses_total", stage_id="toy.seed", executor="local") == 2
    assert value("quant_stage_cache_hits_total", stage_id="toy.seed", executor="local") == 1
    assert value("quant_stage_duration_seconds_count", stage_id="toy.sum", executor="local", cache_hit="false") == 1
    assert value("quant_stage_duration_seconds_count", stage_id="toy.sum", executor="local", cache_hit="true") == 1
    assert value("quant_sleeves_failed_total", executor="local") == 1
    assert value("quant_runs_total", kind="pipeline", executor="local", status="failed") == 2  # beta + the meta run
    assert value("quant_runs_total", kind="pipeline", executor="local", status="succeeded") == 2
    # the fan-out's own ledger line is not a stage execution
    assert not [s for m in registry.collect() for s in m.samples if s.labels.get("stage_id", "").startswith("fan_out.")]

    # Counted from the records afterwards, the figures are the same.
    from_records = record_registry(home.runs_dir)
    for metric in registry.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_created"):
                assert from_records.get_sample_value(sample.name, sample.labels) == sample.value, sample


def test_sleeves_on_a_process_pool_are_counted_by_the_driver(home: QuantHome, telemetry: Telemetry) -> None:
    sdk = traced_sdk(home, telemetry)
    sdk.run_pipeline("toy.meta", profile="trio", run_id="pooled", executor_options={"workers": 2})
    registry = telemetry.metrics.registry
    assert registry.get_sample_value(
        "quant_stage_executions_total", {"stage_id": "toy.scale", "executor": "local", "status": "succeeded"}
    ) == 3
    assert registry.get_sample_value("quant_runs_total", {"kind": "pipeline", "executor": "local", "status": "succeeded"}) == 4


def test_a_runtime_crosses_to_a_worker_with_tracing_only(home: QuantHome, telemetry: Telemetry) -> None:
    runtime = traced_sdk(home, telemetry).runtime()
    worker = pickle.loads(pickle.dumps(runtime))
    assert worker.telemetry.tracing is not None and worker.telemetry.metrics is None
    off = pickle.loads(pickle.dumps(QuantSDK(home=home, config=QuantConfig.defaults()).runtime()))
    assert not off.telemetry.enabled


def test_settings_turn_each_part_on(home: QuantHome) -> None:
    assert not Telemetry.from_settings(TelemetrySettings()).enabled
    metrics_only = Telemetry.from_settings(TelemetrySettings(metrics=True))
    assert metrics_only.metrics is not None and metrics_only.tracing is None


_PROBE = """
import json, sys, tempfile
from quant_core import ProfileCatalog, QuantSDK
from quant_core.testing import toy_profiles, toy_registry

sdk = QuantSDK(home=tempfile.mkdtemp(), registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))
sdk.run_pipeline("toy.meta", profile="trio", run_id="probe")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "prometheus_client"))))
"""


def test_with_telemetry_off_nothing_of_it_is_imported(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert json.loads(completed.stdout) == []
