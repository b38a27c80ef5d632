"""One run is one trace on Ray. The driver makes the run's and the sleeves' spans (a sleeve's run
is driven from a thread of its own); every stage attempt's span is made on the Ray worker or sleeve
actor that ran it, a child of its run's span, and exported by that worker as its OpenTelemetry
settings say: here to the session's OTLP receiver (conftest.py: the session Ray's runtime_env).
Merged, they are the tree the local executor makes of the same work.

Each test runs the same work locally first, in a home of its own (nothing cached), as the
reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quant_compute_ray.executor import factory as ray_factory
from quant_core import ProfileCatalog, SelectionContext, SleeveFailureError
from quant_core.testing import toy_profiles, toy_registry, write_tiny_profiles

pytest.importorskip("opentelemetry.sdk.trace", reason="needs quant-core[otel]")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter", reason="needs quant-core[otlp]")

from quant_core.testing_spans import (  # noqa: E402
    check_failed_sleeves,
    check_traced_as_on_local,
    one_trace,
    stage_span_count,
    traced_sdk,
)

#: How long the workers may take to export their spans (a loaded 2-core machine).
EXPORT_TIMEOUT_S = 120.0


def traces_on_ray(sdk: Any, exporter: Any, span_receiver: Any, run: Any, expected_stages: int) -> list[Any]:
    """The spans of `run()` on Ray: the driver's, and the workers' of the same trace."""
    run()
    on_driver = list(exporter.get_finished_spans())
    trace_id = one_trace(on_driver)
    from_workers = span_receiver.spans_of_trace(trace_id, count=expected_stages, timeout=EXPORT_TIMEOUT_S)
    assert {span.name.split()[0] for span in from_workers} == {"quant.stage"}
    assert stage_span_count(on_driver) == 0  # every attempt ran, and was traced, on a worker
    return [*on_driver, *from_workers]


def test_meta_full_on_ray_is_one_trace_shaped_as_on_local(tmp_path: Path, span_receiver: Any, ray_address: str) -> None:
    pytest.importorskip("quant_stages", reason="meta.full comes with quant-stages")
    local, local_spans = traced_sdk(write_tiny_profiles(tmp_path / "local"))
    local.run_pipeline("meta.full", profile="tiny_meta", run_id="traced")
    expected = list(local_spans.get_finished_spans())

    sdk, exporter = traced_sdk(write_tiny_profiles(tmp_path / "ray"))
    spans = traces_on_ray(
        sdk, exporter, span_receiver,
        lambda: sdk.run_pipeline("meta.full", profile="tiny_meta", run_id="traced", executor="ray"),
        stage_span_count(expected),
    )

    check_traced_as_on_local(sdk, spans, expected, "ray")


def test_a_failed_sleeve_is_an_error_on_its_span_on_ray(tmp_path: Path, span_receiver: Any, ray_address: str) -> None:
    def make(name: str) -> tuple[Any, Any]:
        registry = toy_registry()
        registry.register_executor("ray", ray_factory)
        return traced_sdk(tmp_path / name, registry=registry, profiles=ProfileCatalog([toy_profiles(("beta",))]))

    local, local_spans = make("local")
    with pytest.raises(SleeveFailureError):
        local.run_pipeline("toy.meta", profile="trio", run_id="failing")
    expected = list(local_spans.get_finished_spans())

    sdk, exporter = make("ray")

    def run() -> None:
        with pytest.raises(SleeveFailureError):
            sdk.run_pipeline("toy.meta", profile="trio", run_id="failing", executor="ray")

    spans = traces_on_ray(sdk, exporter, span_receiver, run, stage_span_count(expected))
    check_failed_sleeves(spans, expected, {"beta"})


def test_each_run_of_a_map_is_a_trace_of_its_own(tmp_path: Path, span_receiver: Any, ray_address: str) -> None:
    registry = toy_registry()
    registry.register_executor("ray", ray_factory)
    sdk, exporter = traced_sdk(tmp_path / "home", registry=registry, profiles=ProfileCatalog([toy_profiles()]))
    contexts = [SelectionContext(run_id=f"mapped-{i}") for i in range(3)]
    sdk.executor("ray").map_stages("toy.seed", contexts, {"n": 3})

    # The runs are opened one after another and closed together: siblings, not nested, each the
    # root of its trace, with its attempt's span (made on a worker) as its child.
    runs = {span.attributes["quant.run_id"]: span for span in exporter.get_finished_spans()}
    assert sorted(runs) == [c.run_id for c in contexts]
    assert all(span.parent is None for span in runs.values())
    for run_id, run_span in runs.items():
        (stage,) = span_receiver.spans_of_trace(run_span.context.trace_id, count=1, timeout=EXPORT_TIMEOUT_S)
        assert stage.parent.span_id == run_span.context.span_id
        assert stage.attributes["quant.run_id"] == run_id
