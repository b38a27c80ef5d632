"""The prefect executor and generated flows on a real Prefect server, with quant-core's toy stages:
records, links, retries, user errors, caching and the sleeve gate, read back from the API."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from quant_core import QuantSDK
from quant_core.errors import ParamValidationError, SleeveFailureError, StageFailedError

# Fixtures from conftest.py (importlib mode: test modules cannot import it): `prefect_server`
# (its api_url), `prefect_api` (reads flow and task runs back), `sdk` and `make_sdk(home,
# failing_sleeves=())` (toy SDKs with the prefect executor), `stage_hashes(sdk, run_id)`.
PrefectServer = PrefectReader = Any


def test_a_pipeline_is_a_flow_run_named_after_the_run_with_one_task_per_stage(
    sdk: QuantSDK, prefect_server: PrefectServer, prefect_api: PrefectReader
) -> None:
    result = sdk.run_pipeline("toy.portfolio", profile="small", executor="prefect", run_id="pf-portfolio")
    assert result.status == "succeeded" and result.context.backtest == {"total": 6.0}

    flow_run = prefect_api.flow_run("pf-portfolio")
    assert flow_run.state_name == "Completed"
    assert {"quant", "pipeline:toy.portfolio", "profile:small"} <= set(flow_run.tags)
    task_runs = prefect_api.task_runs(flow_run.id, 3)
    assert [(t.name, t.state_name) for t in task_runs] == [
        ("toy.seed", "Completed"), ("toy.scale", "Completed"), ("toy.sum", "Completed"),
    ]
    # task runs are not tagged: Prefect would ask the server for tag concurrency slots for each
    assert all(t.tags == [] for t in task_runs)

    # links both ways: the manifest names the flow run, the flow run is named after the run
    engine = result.manifest.engine
    assert engine is not None
    assert engine["flow_run_id"] == str(flow_run.id) and engine["flow_run_name"] == "pf-portfolio"
    assert engine["api_url"] == prefect_server.api_url and engine["flow"] == "toy.portfolio"
    assert result.manifest.executor == "prefect"
    assert [(e.stage_id, e.executor, e.node) for e in result.ledger] == [
        ("toy.seed", "prefect", None), ("toy.scale", "prefect", None), ("toy.sum", "prefect", None),
    ]
    if importlib.util.find_spec("quant_cli") is not None:  # `quant runs show` prints the link
        from quant_cli.app import build_app
        from typer.testing import CliRunner

        shown = CliRunner().invoke(
            build_app(lambda home: sdk), ["--home", str(sdk.home.root), "runs", "show", "pf-portfolio"],
            env={"COLUMNS": "1000"},
        )
        assert shown.exit_code == 0 and str(flow_run.id) in shown.stdout


def test_the_same_pipeline_leaves_the_same_record_as_local(tmp_path: Path, make_sdk: Any, stage_hashes: Any) -> None:
    on_local = make_sdk(tmp_path / "local")
    on_prefect = make_sdk(tmp_path / "prefect")
    local = on_local.run_pipeline("toy.meta", profile="trio", run_id="same")
    prefect = on_prefect.run_pipeline("toy.meta", profile="trio", run_id="same", executor="prefect")
    assert prefect.context == local.context
    assert stage_hashes(on_prefect, "same") == stage_hashes(on_local, "same")
    assert len(stage_hashes(on_local, "same")) == 2 + 3 * 3  # fan-out + meta stage, three stages per sleeve
    for run_id in ("same", "same.alpha", "same.beta", "same.gamma"):
        local_manifest, prefect_manifest = (s.record(run_id).read_manifest() for s in (on_local, on_prefect))
        assert prefect_manifest.same_request(local_manifest) and prefect_manifest.status == "succeeded"
        assert [n for n, _ in on_prefect.record(run_id).context_entries()] == [
            n for n, _ in on_local.record(run_id).context_entries()
        ]


def test_a_run_cached_on_one_executor_is_a_hit_on_the_other(tmp_path: Path, make_sdk: Any) -> None:
    sdk = make_sdk(tmp_path / "home")
    first = sdk.run_pipeline("toy.meta", profile="trio", executor="prefect")
    assert first.cache_hits == 0
    local = sdk.run_pipeline("toy.meta", profile="trio")
    assert local.context.meta_weights == first.context.meta_weights
    assert all(e.cache_hit for e in local.ledger if not e.stage_id.startswith("fan_out."))

    other = make_sdk(tmp_path / "other")
    other.run_pipeline("toy.portfolio", profile="large")
    on_prefect = other.run_pipeline("toy.portfolio", profile="large", executor="prefect")
    assert [e.cache_hit for e in on_prefect.ledger] == [True, True, True]


def test_a_second_flow_run_is_served_from_prefects_cache_and_quants_alike(
    sdk: QuantSDK, prefect_api: PrefectReader
) -> None:
    first = sdk.run_pipeline("toy.portfolio", profile="large", executor="prefect", run_id="pf-cached-1")
    second = sdk.run_pipeline("toy.portfolio", profile="large", executor="prefect", run_id="pf-cached-2")
    assert second.context.backtest == first.context.backtest and second.context.run_id == "pf-cached-2"
    assert [e.cache_hit for e in second.ledger] == [True, True, True]
    assert [e.output_hash for e in second.ledger] == [e.output_hash for e in first.ledger]
    task_runs = prefect_api.task_runs(prefect_api.flow_run("pf-cached-2").id, 3)
    assert [t.state_name for t in task_runs] == ["Cached", "Cached", "Cached"]
    # what Prefect persisted is JSON, under the quant home
    stored = list((sdk.home.root / "prefect" / "results").iterdir())
    assert stored and all(p.read_bytes().lstrip().startswith(b"{") for p in stored)

    # quant's cache emptied: Prefect's entries are not served, the stages run again and both agree
    shutil.rmtree(sdk.home.cache_dir)
    third = sdk.run_pipeline("toy.portfolio", profile="large", executor="prefect", run_id="pf-cached-3")
    assert [e.cache_hit for e in third.ledger] == [False, False, False]
    assert [e.output_hash for e in third.ledger] == [e.output_hash for e in first.ledger]
    assert [t.state_name for t in prefect_api.task_runs(prefect_api.flow_run("pf-cached-3").id, 3)] == [
        "Completed", "Completed", "Completed",
    ]
    assert [e.cache_hit for e in sdk.run_pipeline("toy.portfolio", profile="large").ledger] == [True, True, True]


def test_a_transient_failure_is_retried_and_prefect_shows_each_attempt(
    sdk: QuantSDK, tmp_path: Path, prefect_api: PrefectReader
) -> None:
    counter = tmp_path / "failures"
    result = sdk.run_pipeline(
        "test.flaky", params={"test.flaky_twice.counter": str(counter)}, executor="prefect", run_id="pf-flaky"
    )
    assert result.context.params["flaky"] == "ok"
    flaky = [(e.attempt, e.status) for e in result.ledger if e.stage_id == "test.flaky_twice"]
    assert flaky == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    assert "transient failure 1 of 2" in str(result.ledger[1].error)

    task_runs = prefect_api.task_runs(prefect_api.flow_run("pf-flaky").id, 2)
    (task_run,) = [t for t in task_runs if t.name == "test.flaky_twice"]
    assert task_run.run_count == 3 and task_run.state_name == "Completed"
    states = prefect_api.task_run_states(task_run.id)
    assert states.count("Running") + states.count("Retrying") == 3 and states.count("AwaitingRetry") == 2


def test_a_user_error_fails_at_once(sdk: QuantSDK, prefect_api: PrefectReader) -> None:
    with pytest.raises(StageFailedError, match="no finite returns") as raised:
        sdk.run_pipeline("test.rejects", profile="small", executor="prefect", run_id="pf-rejects")
    assert not raised.value.retryable and raised.value.exit_code == 4
    ledger = sdk.record("pf-rejects").read_ledger()
    assert [(e.stage_id, e.attempt, e.status) for e in ledger] == [
        ("toy.seed", 1, "succeeded"), ("test.rejects_data", 1, "failed"),
    ]
    flow_run = prefect_api.flow_run("pf-rejects")
    assert flow_run.state_name == "Failed"
    (task_run,) = [t for t in prefect_api.task_runs(flow_run.id, 2) if t.name == "test.rejects_data"]
    assert task_run.run_count == 1 and task_run.state_name == "Failed"
    assert sdk.record("pf-rejects").read_manifest().status == "failed"


def test_a_failing_sleeve_is_named_by_the_gate_and_the_others_finish(
    tmp_path: Path, make_sdk: Any, prefect_api: PrefectReader
) -> None:
    sdk = make_sdk(tmp_path / "home", failing_sleeves=("beta",))
    with pytest.raises(SleeveFailureError) as raised:
        sdk.run_pipeline("toy.meta", profile="trio", executor="prefect", run_id="pf-gate")
    assert set(raised.value.failures) == {"beta"} and "toy.scale was asked to fail" in raised.value.failures["beta"]
    statuses = {name: sdk.record(f"pf-gate.{name}").read_manifest().status for name in ("alpha", "beta", "gamma")}
    assert statuses == {"alpha": "succeeded", "beta": "failed", "gamma": "succeeded"}
    fan_out = sdk.record("pf-gate").read_ledger()
    assert [(e.stage_id, e.status, e.error) for e in fan_out] == [
        ("fan_out.toy.portfolio", "failed", "failed sleeves: beta"),
    ]

    flow_run = prefect_api.flow_run("pf-gate")
    assert flow_run.state_name == "Failed"
    by_name = {t.name: t.state_name for t in prefect_api.task_runs(flow_run.id, 8)}
    # alpha and gamma run the same profile concurrently: whichever finishes a stage second may be
    # served from the other's cache entry, so alpha's last task is Completed or Cached.
    assert by_name["toy.scale [beta]"] == "Failed" and by_name["toy.sum [alpha]"] in {"Completed", "Cached"}
    assert "toy.sum [beta]" not in by_name  # a failed sleeve stops at its failed stage


def test_a_failed_run_resumes_at_the_failed_stage_in_a_new_flow_run(
    sdk: QuantSDK, tmp_path: Path, prefect_api: PrefectReader
) -> None:
    marker = tmp_path / "gate-closed"
    marker.write_text("closed")
    with pytest.raises(StageFailedError, match="gate closed"):
        sdk.run_pipeline(
            "test.gated", profile="small", params={"test.gate.marker": str(marker)}, executor="prefect",
            run_id="pf-resume",
        )
    marker.unlink()
    resumed = sdk.resume("pf-resume")  # on the executor the run was started with
    assert resumed.status == "succeeded" and resumed.context.winners == ["gate-open"]
    assert resumed.manifest.invocations == 2 and resumed.manifest.executor == "prefect"
    assert [(e.stage_id, e.cache_hit) for e in resumed.latest_attempts()] == [("toy.seed", True), ("test.gate", False)]
    failed, completed = prefect_api.flow_runs("pf-resume")
    assert (failed.state_name, completed.state_name) == ("Failed", "Completed")
    assert resumed.manifest.engine["flow_run_id"] == str(completed.id)


def test_one_stage_runs_as_its_own_flow_run(sdk: QuantSDK, prefect_api: PrefectReader) -> None:
    result = sdk.run_stage("toy.seed", params={"n": 4}, executor="prefect", run_id="pf-stage")
    assert "numbers" in result.context.artifacts
    flow_run = prefect_api.flow_run("pf-stage")
    assert flow_run.state_name == "Completed" and "stage:toy.seed" in flow_run.tags
    assert [t.name for t in prefect_api.task_runs(flow_run.id, 1)] == ["toy.seed"]
    assert result.manifest.kind == "stage" and result.manifest.engine["flow_run_id"] == str(flow_run.id)


def test_build_flow_plans_from_typed_parameters_and_names_the_run(
    sdk: QuantSDK, prefect_api: PrefectReader
) -> None:
    from quant_flows_prefect import build_flow

    flow = build_flow("toy.portfolio", sdk=sdk)
    assert flow.name == "toy.portfolio"
    assert set(flow.parameters.properties) == {"profile", "params", "run_id"}
    output = flow(profile="small", params={"toy.scale.factor": "3"})
    assert output["backtest"] == {"total": 9.0}
    # the run id was made up front and named the flow run: the record is found by it
    (manifest,) = [m for m in sdk.list_runs() if m.target == "toy.portfolio"]
    assert manifest.engine["flow_run_name"] == manifest.run_id
    assert prefect_api.flow_run(manifest.run_id).state_name == "Completed"
    assert manifest.params["toy.scale"]["factor"] == 3.0


def test_without_an_api_url_a_run_uses_prefects_ephemeral_server(
    make_sdk: Any, tmp_path: Path, prefect_server: PrefectServer
) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    sdk = make_sdk(tmp_path / "home")
    ephemeral = SubprocessASGIServer()  # Prefect's one per process, which quant starts
    with temporary_settings(updates={PREFECT_API_URL: None, PREFECT_HOME: str(tmp_path / "ephemeral-home")}):
        try:
            result = sdk.run_pipeline("toy.portfolio", profile="small", executor="prefect", run_id="pf-ephemeral")
            api_url = ephemeral.api_url
        finally:
            APILogWorker.drain_all(timeout=30)
            EventsWorker.drain_all(timeout=30)
            ephemeral.stop()
    assert result.status == "succeeded" and api_url != prefect_server.api_url
    assert result.manifest.engine["api_url"] == api_url and api_url.startswith("http://127.0.0.1:")


def test_executor_options_are_checked(sdk: QuantSDK) -> None:
    with pytest.raises(ParamValidationError, match="task_runner='dask' is not one of thread, ray"):
        sdk.executor("prefect", task_runner="dask")
    with pytest.raises(ParamValidationError, match="ray_address='10.0.0.1:6379' is used only with task_runner='ray'"):
        sdk.executor("prefect", ray_address="10.0.0.1:6379")
    with pytest.raises(ParamValidationError, match="does not take the option.*workers"):
        sdk.executor("prefect", workers=2)


def test_the_executor_is_registered_as_prefect() -> None:
    (found,) = [ep for ep in entry_points(group="quant.executors") if ep.name == "prefect"]
    from quant_flows_prefect.executor import factory

    assert found.load() is factory


def test_the_backend_never_imports_quant_stages() -> None:
    code = (
        "import sys, quant_flows_prefect, quant_flows_prefect.executor, quant_flows_prefect.flows, "
        "quant_flows_prefect.deploy; print('quant_stages' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
