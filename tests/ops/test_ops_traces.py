"""The span tree of the real `meta.full` on a tiny profile: in process with an in-memory exporter,
and from the `quant` command exporting over OTLP to a receiver on loopback (the same tree)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("quant_stages", reason="needs quant-stages")
pytest.importorskip("opentelemetry.sdk.trace", reason="needs quant-core[otel]")

from ops_support import quant, quant_env, write_tiny_profiles  # noqa: E402  (tests/ops, on sys.path)

from quant_core import QuantSDK  # noqa: E402
from quant_core.testing import span_tree  # noqa: E402
from quant_core.testing_spans import one_trace, traced_sdk  # noqa: E402

SLEEVE_STAGES = [
    "selection.ingestion", "selection.features", "selection.inference", "selection.clustering",
    "selection.policy", "selection.synthesis", "allocation.optimize", "allocation.backtest",
]
META_STAGES = ["meta.returns", "meta.optimize", "meta.flatten", "meta.report"]


def shape(tree: list[dict]) -> list[tuple]:
    """(name, children) only."""
    return [(node["name"], shape(node["children"])) for node in tree]


def traced_run(home: Path, run_id: str) -> tuple[list, QuantSDK]:
    sdk, exporter = traced_sdk(home)
    sdk.run_pipeline("meta.full", profile="tiny_meta", run_id=run_id)
    return list(exporter.get_finished_spans()), sdk


def test_meta_full_is_one_trace_with_a_span_per_run_sleeve_and_stage(tiny_home: Path) -> None:
    spans, sdk = traced_run(tiny_home, "traced")
    assert len({s.context.trace_id for s in spans}) == 1
    tree = span_tree(spans)
    sleeve = [f"quant.stage {s}" for s in SLEEVE_STAGES]
    assert shape(tree) == [(
        "quant.run meta.full",
        [("quant.sleeve a", [(name, []) for name in sleeve]), ("quant.sleeve b", [(name, []) for name in sleeve]),
         *[(f"quant.stage {s}", []) for s in META_STAGES]],
    )]
    # Every stage span carries what its ledger line says.
    ledger = {
        (entry.run_id, entry.stage_id): entry
        for run_id in ("traced", "traced.a", "traced.b")
        for entry in sdk.record(run_id).read_ledger()
    }
    for span in spans:
        if span.name.startswith("quant.stage "):
            entry = ledger[(span.attributes["quant.run_id"], span.attributes["quant.stage_id"])]
            assert span.attributes["quant.output_hash"] == entry.output_hash
            assert span.attributes["quant.cache_hit"] == entry.cache_hit
            assert span.attributes["quant.attempt"] == entry.attempt == 1
            assert span.attributes["quant.executor"] == "local"
            assert span.status.status_code.name == "OK"


def test_the_quant_command_exports_the_same_tree_over_otlp(tiny_home: Path, otlp_receiver, tmp_path: Path) -> None:
    # a home of its own, so both runs compute (a cache hit would mark the spans)
    in_process, _ = traced_run(write_tiny_profiles(tmp_path / "reference"), "ref")
    env = quant_env(
        tiny_home, QUANT_TRACING="true", OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint,
        OTEL_SERVICE_NAME="quant-test",
    )
    done = quant("pipeline", "run", "meta.full", "--profile", "tiny_meta", "--run-id", "cli", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # Exported before the command returned: the CLI flushes its spans at the end of a run.
    assert span_tree(otlp_receiver.spans) == span_tree(in_process)
    assert {s.attributes["quant.run_id"] for s in otlp_receiver.spans if s.parent is None} == {"cli"}
    # The run record links to its trace.
    shown = quant("runs", "show", "cli", "--json", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["trace_ids"] == [f"{one_trace(otlp_receiver.spans):032x}"]
