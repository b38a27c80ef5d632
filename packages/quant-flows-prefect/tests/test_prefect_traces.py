"""One run is one trace on Prefect. The flow (the driver) makes the run's and the sleeves' spans,
the task runs their attempts' spans, children of their run's span handed over as a traceparent:
on the thread runner all of them in this process (an in-memory exporter sees them), and the tree
is the one the local executor makes of the same work; on the Ray task runner the attempts run on
Ray workers, whose ledger lines name the driver's trace.

Each test runs the same work locally first, in a home of its own (nothing cached), as the
reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quant_core import ProfileCatalog, SleeveFailureError
from quant_core.testing import toy_profiles, toy_registry, write_tiny_profiles
from quant_flows_prefect.executor import factory as prefect_factory

pytest.importorskip("opentelemetry.sdk.trace", reason="needs quant-core[otel]")

from quant_core.testing_spans import check_failed_sleeves, check_traced_as_on_local, one_trace, traced_sdk  # noqa: E402

# Fixtures (conftest.py): `prefect_server` (the session's Prefect server), `ray_cluster`.


def toy_sdks(tmp_path: Path, failing_sleeves: tuple[str, ...] = ()) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """(local SDK, its exporter), (Prefect SDK, its exporter): the toy pipelines, two homes."""

    def make(name: str) -> tuple[Any, Any]:
        registry = toy_registry()
        registry.register_executor("prefect", prefect_factory)
        return traced_sdk(tmp_path / name, registry=registry, profiles=ProfileCatalog([toy_profiles(failing_sleeves)]))

    return make("local"), make("prefect")


def test_meta_full_on_prefect_is_one_trace_shaped_as_on_local(tmp_path: Path, prefect_server: Any) -> None:
    pytest.importorskip("quant_stages", reason="meta.full comes with quant-stages")
    local, local_spans = traced_sdk(write_tiny_profiles(tmp_path / "local"))
    local.run_pipeline("meta.full", profile="tiny_meta", run_id="pf-traced")

    sdk, exporter = traced_sdk(write_tiny_profiles(tmp_path / "prefect"))
    sdk.run_pipeline("meta.full", profile="tiny_meta", run_id="pf-traced", executor="prefect")
    check_traced_as_on_local(sdk, exporter.get_finished_spans(), local_spans.get_finished_spans(), "prefect")


def test_a_failed_sleeve_is_an_error_on_its_span_on_prefect(tmp_path: Path, prefect_server: Any) -> None:
    (local, local_spans), (sdk, exporter) = toy_sdks(tmp_path, failing_sleeves=("beta",))
    with pytest.raises(SleeveFailureError):
        local.run_pipeline("toy.meta", profile="trio", run_id="pf-failing")
    with pytest.raises(SleeveFailureError):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="pf-failing", executor="prefect")
    check_failed_sleeves(exporter.get_finished_spans(), local_spans.get_finished_spans(), {"beta"})


def test_attempts_on_the_ray_task_runner_join_the_flows_trace(tmp_path: Path, ray_cluster: str) -> None:
    _, (sdk, exporter) = toy_sdks(tmp_path)
    sdk.run_pipeline(
        "toy.meta", profile="trio", run_id="pf-ray-traced", executor="prefect", executor_options={"task_runner": "ray"}
    )
    # The session Ray's workers export no spans (no OTEL_* settings there), but the trace context
    # reached them: each attempt's ledger line, written from the worker's span, names the trace.
    trace_id = format(one_trace(exporter.get_finished_spans()), "032x")
    sleeve = sdk.record("pf-ray-traced.beta").read_ledger()
    assert all(entry.node and entry.worker for entry in sleeve)  # ran on Ray workers
    assert {entry.trace_id for entry in sleeve} == {trace_id}
