"""Flows on prefect-ray's `RayTaskRunner`, against one local Ray started for the session: the
attempts run on Ray workers (the ledger names them), Ray is neither restarted nor stopped by a
flow run, and an address other than the connected cluster's is refused instead of ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quant_core.errors import ParamValidationError

# `ray_cluster` (conftest.py): the address of the local Ray started once for the session.
ray = pytest.importorskip("ray")


def test_sleeves_run_on_ray_workers_and_ray_stays_up(
    make_sdk: Any, tmp_path: Path, ray_cluster: str, prefect_api: Any
) -> None:
    on_local, on_ray = make_sdk(tmp_path / "local"), make_sdk(tmp_path / "ray")
    local = on_local.run_pipeline("toy.meta", profile="trio", run_id="pr-meta")
    for run_id in ("pr-meta", "pr-meta-again"):
        result = on_ray.run_pipeline(
            "toy.meta", profile="trio", run_id=run_id, executor="prefect", executor_options={"task_runner": "ray"}
        )
        assert result.context.meta_weights == local.context.meta_weights
        # prefect-ray neither restarted nor stopped the Ray this process holds
        assert ray.is_initialized() and ray.get_runtime_context().gcs_address == ray_cluster
    assert result.manifest.engine["task_runner"] == "ray"

    sleeve = on_ray.record("pr-meta.beta").read_ledger()
    assert [e.stage_id for e in sleeve] == ["toy.seed", "toy.scale", "toy.sum"]
    assert all(e.node and e.worker and e.output_hash for e in sleeve)  # ran on Ray workers
    assert [e.output_hash for e in sleeve] == [e.output_hash for e in on_local.record("pr-meta.beta").read_ledger()]
    flow_run = prefect_api.flow_run("pr-meta")
    assert flow_run.state_name == "Completed"
    # sleeves alpha and gamma have the same inputs: one may be served the other's outputs
    assert {t.state_name for t in prefect_api.task_runs(flow_run.id, 10)} <= {"Completed", "Cached"}


def test_retries_on_a_ray_worker_come_back_as_three_attempts(make_sdk: Any, tmp_path: Path, ray_cluster: str) -> None:
    sdk = make_sdk(tmp_path / "home")
    result = sdk.run_pipeline(
        "test.flaky", params={"test.flaky_twice.counter": str(tmp_path / "failures")},
        executor="prefect", executor_options={"task_runner": "ray"},
    )
    attempts = [(e.attempt, e.status) for e in result.ledger if e.stage_id == "test.flaky_twice"]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "succeeded")]


def test_another_ray_address_is_refused_not_ignored(make_sdk: Any, tmp_path: Path, ray_cluster: str) -> None:
    sdk = make_sdk(tmp_path / "home")
    with pytest.raises(ParamValidationError, match="already connected to the Ray cluster at") as raised:
        sdk.run_pipeline(
            "toy.portfolio", profile="small", executor="prefect",
            executor_options={"task_runner": "ray", "ray_address": "10.255.0.1:6379"},
        )
    assert raised.value.param == "ray_address"
    assert not sdk.list_runs()  # refused before any run started
    same = sdk.run_pipeline(
        "toy.portfolio", profile="small", executor="prefect",
        executor_options={"task_runner": "ray", "ray_address": ray_cluster},
    )
    assert same.status == "succeeded"


def test_meta_flow_on_the_ray_task_runner(tmp_path: Path, tiny_home: Any, ray_cluster: str, prefect_api: Any) -> None:
    from quant_flows_prefect import build_flow

    sdk = tiny_home(tmp_path / "home")
    meta_flow = build_flow("meta.full", sdk=sdk, task_runner="ray")
    output = meta_flow(profile="tiny_meta", run_id="pr-meta-full")
    assert output["report"] and ray.get_runtime_context().gcs_address == ray_cluster

    manifest = sdk.record("pr-meta-full").read_manifest()
    assert manifest.status == "succeeded" and manifest.engine["task_runner"] == "ray"
    sleeve_ledger = [e for sleeve in ("a", "b") for e in sdk.record(f"pr-meta-full.{sleeve}").read_ledger()]
    assert len(sleeve_ledger) == 16
    # computed on Ray workers; the sleeves share their selection stages, so some are served from
    # the cache to the second sleeve, in the driver
    computed = [e for e in sleeve_ledger if not e.cache_hit]
    assert len(computed) >= 8 and all(e.node and e.worker for e in computed)
    flow_run = prefect_api.flow_run("pr-meta-full")
    assert flow_run.state_name == "Completed" and "profile:tiny_meta" in flow_run.tags
    assert len(prefect_api.task_runs(flow_run.id, 2 * 8 + 4)) == 20
    local = tiny_home(tmp_path / "local-home")
    on_local = local.run_pipeline("meta.full", profile="tiny_meta", run_id="pr-meta-full")
    assert on_local.context.model_dump(mode="json") == output
