"""The real pipelines (`portfolio.full`, `meta.full`) as Prefect flows on small synthetic profiles:
every stage's output hash and the final context equal the local executor's, the flow and task
runs are what the API reports, and each executor's cache serves the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quant_core import QuantSDK
from quant_core.pipeline import is_fan_out_step

pytest.importorskip("quant_stages", reason="the real pipelines come with quant-stages")

SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 24, n_days = 500 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)
PORTFOLIO_STAGES = [
    "selection.ingestion", "selection.features", "selection.inference", "selection.clustering",
    "selection.policy", "selection.synthesis", "allocation.optimize", "allocation.backtest",
]


def tiny_home(root: Path) -> QuantSDK:
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "tiny_sleeve.toml").write_text(SLEEVE)
    (root / "profiles" / "tiny_meta.toml").write_text(META)
    return QuantSDK(home=root)


def stage_hashes(sdk: QuantSDK, run_id: str) -> dict[str, str | None]:
    hashes = {}
    for record_id in [run_id, *(p.name for p in sdk.home.runs_dir.glob(f"{run_id}.*"))]:
        for entry in sdk.record(record_id).read_ledger():
            hashes[f"{record_id}/{entry.stage_id}"] = entry.output_hash
    return hashes


def test_portfolio_full_as_a_flow_equals_local(tmp_path: Path, prefect_server: Any, prefect_api: Any) -> None:
    on_local, on_prefect = tiny_home(tmp_path / "local"), tiny_home(tmp_path / "prefect")
    local = on_local.run_pipeline("portfolio.full", profile="tiny_sleeve", run_id="pf-portfolio-full")
    flow = on_prefect.run_pipeline("portfolio.full", profile="tiny_sleeve", run_id="pf-portfolio-full", executor="prefect")
    assert flow.context == local.context
    assert stage_hashes(on_prefect, flow.run_id) == stage_hashes(on_local, local.run_id)
    assert [e.stage_id for e in flow.ledger] == PORTFOLIO_STAGES

    flow_run = prefect_api.flow_run("pf-portfolio-full")
    assert flow_run.state_name == "Completed"
    assert {"quant", "pipeline:portfolio.full", "profile:tiny_sleeve"} <= set(flow_run.tags)
    task_runs = prefect_api.task_runs(flow_run.id, len(PORTFOLIO_STAGES))
    assert [t.name for t in task_runs] == PORTFOLIO_STAGES
    assert {t.state_name for t in task_runs} == {"Completed"}


def test_meta_full_as_a_flow_equals_local_and_shares_its_cache(
    tmp_path: Path, prefect_server: Any, prefect_api: Any
) -> None:
    on_local, on_prefect = tiny_home(tmp_path / "local"), tiny_home(tmp_path / "prefect")
    local = on_local.run_pipeline("meta.full", profile="tiny_meta", run_id="pf-meta-full")
    flow = on_prefect.run_pipeline("meta.full", profile="tiny_meta", run_id="pf-meta-full", executor="prefect")
    assert flow.context == local.context
    hashes = stage_hashes(on_prefect, flow.run_id)
    assert hashes == stage_hashes(on_local, local.run_id) and len(hashes) == 1 + 4 + 2 * 8

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
        entries = [e for run_id in [result.run_id, *[r.run_id for r in result.context.sleeve_results]]
                   for e in sdk.record(run_id).read_ledger()]
        assert len(entries) == 21 and all(e.cache_hit for e in entries if not is_fan_out_step(e.stage_id))
