"""The real pipelines (`portfolio.full`, `meta.full`) as Prefect flows on small synthetic profiles:
every stage's output hash and the final context equal the local executor's, the flow and task
runs are what the API reports, and each executor's cache serves the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quant_core.pipeline import is_fan_out_step

pytest.importorskip("quant_stages", reason="the real pipelines come with quant-stages")

# Fixtures (conftest.py): `tiny_home(root)` (an SDK with the profiles tiny_sleeve and tiny_meta),
# `stage_hashes(sdk, run_id)`, `prefect_server`, `prefect_api`.

PORTFOLIO_STAGES = [
    "selection.ingestion", "selection.features", "selection.inference", "selection.clustering",
    "selection.policy", "selection.synthesis", "allocation.optimize", "allocation.backtest",
]


@pytest.fixture
def side_by_side(tmp_path: Path, tiny_home: Any, stage_hashes: Any, prefect_server: Any) -> Any:
    """`side_by_side(pipeline, profile, run_id)`: the run on the local executor and as a flow, each
    in a home of its own (nothing cached), checked equal stage for stage. Gives both SDKs and
    results: (on_local, local, on_prefect, flow)."""

    def run(pipeline: str, profile: str, run_id: str) -> tuple[Any, Any, Any, Any]:
        on_local, on_prefect = tiny_home(tmp_path / "local"), tiny_home(tmp_path / "prefect")
        local = on_local.run_pipeline(pipeline, profile=profile, run_id=run_id)
        flow = on_prefect.run_pipeline(pipeline, profile=profile, run_id=run_id, executor="prefect")
        assert flow.context == local.context
        assert stage_hashes(on_prefect, run_id) == stage_hashes(on_local, run_id)
        assert not any(e.cache_hit for e in flow.ledger)
        return on_local, local, on_prefect, flow

    return run


def test_portfolio_full_as_a_flow_equals_local(side_by_side: Any, prefect_api: Any) -> None:
    _, _, _, flow = side_by_side("portfolio.full", "tiny_sleeve", "pf-portfolio-full")
    assert [e.stage_id for e in flow.ledger] == PORTFOLIO_STAGES

    flow_run = prefect_api.flow_run("pf-portfolio-full")
    assert flow_run.state_name == "Completed"
    assert {"quant", "pipeline:portfolio.full", "profile:tiny_sleeve"} <= set(flow_run.tags)
    task_runs = prefect_api.task_runs(flow_run.id, len(PORTFOLIO_STAGES))
    assert [t.name for t in task_runs] == PORTFOLIO_STAGES
    assert {t.state_name for t in task_runs} == {"Completed"}


def test_meta_full_as_a_flow_equals_local_and_shares_its_cache(
    side_by_side: Any, stage_hashes: Any, prefect_api: Any
) -> None:
    on_local, local, on_prefect, flow = side_by_side("meta.full", "tiny_meta", "pf-meta-full")
    assert len(stage_hashes(on_prefect, flow.run_id)) == 1 + 4 + 2 * 8

    flow_run = prefect_api.flow_run("pf-meta-full")
    assert flow_run.state_name == "Completed" and "profile:tiny_meta" in flow_run.tags
    names = [t.name for t in prefect_api.task_runs(flow_run.id, 2 * len(PORTFOLIO_STAGES) + 4)]
    assert sorted(names) == sorted(
        [f"{stage} [{sleeve}]" for sleeve in ("a", "b") for stage in PORTFOLIO_STAGES]
        + ["meta.returns", "meta.optimize", "meta.flatten", "meta.report"]
    )
    assert names[-4:] == ["meta.returns", "meta.optimize", "meta.flatten", "meta.report"]

    # each executor's cache serves the other, stage for stage
    local_after = on_prefect.run_pipeline("meta.full", profile="tiny_meta")
    flow_after = on_local.run_pipeline("meta.full", profile="tiny_meta", executor="prefect")
    for result, sdk in ((local_after, on_prefect), (flow_after, on_local)):
        assert result.context.meta_weights == local.context.meta_weights
        entries = [e for run_id in [result.run_id, *[r.run_id for r in sdk.expanded(result.context).sleeve_results]]
                   for e in sdk.record(run_id).read_ledger()]
        assert len(entries) == 21 and all(e.cache_hit for e in entries if not is_fan_out_step(e.stage_id))
