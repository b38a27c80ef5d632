"""One run is one trace on DBOS. A run's workflow runs on a DBOS thread: the caller's span travels
in the workflow's input, the run's span in each sleeve's child workflow input (checkpointed, so a
recovered or resumed workflow joins the trace it started in), and each attempt's step attaches it.
In process with SQLite, an in-memory exporter sees every span: the tree is the one the local
executor makes of the same work.

Each test runs the same work locally first, in a home of its own (nothing cached), as the
reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from quant_core import ProfileCatalog, SleeveFailureError
from quant_core.testing import toy_profiles, write_tiny_profiles

pytest.importorskip("opentelemetry.sdk.trace", reason="needs quant-core[otel]")

from quant_core.testing_spans import check_failed_sleeves, check_traced_as_on_local, one_trace, traced_sdk  # noqa: E402


def test_meta_full_on_dbos_is_one_trace_shaped_as_on_local(tmp_path: Path, sqlite_url: str) -> None:
    pytest.importorskip("quant_stages", reason="meta.full comes with quant-stages")
    local, local_spans = traced_sdk(write_tiny_profiles(tmp_path / "local"))
    local.run_pipeline("meta.full", profile="tiny_meta", run_id="db-traced")

    sdk, exporter = traced_sdk(write_tiny_profiles(tmp_path / "dbos"))
    sdk.run_pipeline(
        "meta.full", profile="tiny_meta", run_id="db-traced", executor="dbos",
        executor_options={"dbos_database_url": sqlite_url, "workers": 2},
    )
    spans = exporter.get_finished_spans()
    check_traced_as_on_local(sdk, spans, local_spans.get_finished_spans(), "dbos")

    # Each sleeve's workflow was started with the run's span as its parent, in its input.
    (run_span,) = [span for span in spans if span.name == "quant.run meta.full"]
    children = DBOS.list_workflows(parent_workflow_id="db-traced", load_input=True)
    assert sorted(child.workflow_id for child in children) == ["db-traced.a", "db-traced.b"]
    parents = {child.input["args"][0]["traceparent"].rsplit("-", 1)[0] for child in children}  # without the flags
    assert parents == {f"00-{one_trace(spans):032x}-{run_span.context.span_id:016x}"}


def test_a_failed_sleeve_is_an_error_on_its_span_on_dbos(kit: Any, tmp_path: Path, sqlite_url: str) -> None:
    def make(name: str) -> tuple[Any, Any]:
        return traced_sdk(tmp_path / name, registry=kit.build_registry(), profiles=ProfileCatalog([toy_profiles(("beta",))]))

    (local, local_spans), (sdk, exporter) = make("local"), make("dbos")
    with pytest.raises(SleeveFailureError):
        local.run_pipeline("toy.meta", profile="trio", run_id="db-failing")
    with pytest.raises(SleeveFailureError):
        sdk.run_pipeline(
            "toy.meta", profile="trio", run_id="db-failing", executor="dbos",
            executor_options={"dbos_database_url": sqlite_url},
        )
    check_failed_sleeves(exporter.get_finished_spans(), local_spans.get_finished_spans(), {"beta"})
