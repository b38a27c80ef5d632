"""The ray executor on the session's real local Ray, with the toy stages of quant_core.testing
and the test stages of conftest: records, map_stages, retries, sleeve actors dying, the caller's
Ray left alone."""

from __future__ import annotations

import json

import pytest
import ray
from quant_core import ParamValidationError, RunContext, SelectionContext, SleeveFailureError, StageFailedError
from quant_core.remote import RemoteQuantError

from quant_compute_ray import RayClusterError, RayComputeEngine, wire


def _hashes(sdk, run_id):
    return [(e.stage_id, e.output_hash) for e in sdk.record(run_id).read_ledger()]


def test_a_pipeline_leaves_the_local_record_plus_where_each_stage_ran(make_sdk, ray_address):
    on_ray, on_local = make_sdk("ray"), make_sdk("local")
    result = on_ray.run_pipeline("toy.portfolio", profile="large", run_id="p", executor="ray")
    expected = on_local.run_pipeline("toy.portfolio", profile="large", run_id="p")

    assert result.context == expected.context and result.context.backtest == {"total": 14.0}
    assert _hashes(on_ray, "p") == _hashes(on_local, "p")
    assert on_ray.record("p").context_entries() == on_local.record("p").context_entries()
    manifest = result.manifest
    assert (manifest.executor, manifest.status) == ("ray", "succeeded")
    assert manifest.engine == {"address": ray_address, "ray_version": ray.__version__, "started_for_run": False}
    nodes = {node["NodeID"] for node in ray.nodes()}
    for entry in result.ledger:
        assert entry.executor == "ray" and entry.node in nodes and len(entry.worker) == 56


def test_one_cache_serves_both_executors_both_ways(make_sdk):
    sdk = make_sdk()
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="first-ray", executor="ray")
    local_again = sdk.run_pipeline("toy.portfolio", profile="small", run_id="then-local")
    assert local_again.cache_hits == 3

    sdk.run_pipeline("toy.portfolio", profile="large", run_id="first-local")
    ray_again = sdk.run_pipeline("toy.portfolio", profile="large", run_id="then-ray", executor="ray")
    assert ray_again.cache_hits == 3 and {e.executor for e in ray_again.ledger} == {"ray"}


def test_map_stages_runs_every_context_as_its_own_run(make_sdk):
    sdk = make_sdk()
    contexts = [SelectionContext(run_id=f"seed-{i}") for i in range(5)]
    engine = sdk.executor("ray")
    outputs = engine.map_stages("toy.seed", contexts, {"n": 4, "offset": 1.5})

    assert [o.run_id for o in outputs] == [c.run_id for c in contexts]
    for output in outputs:
        assert sdk.runtime().store.get_json(output.artifacts["numbers"]) == [1.5, 2.5, 3.5, 4.5]
        manifest = sdk.record(output.run_id).read_manifest()
        assert (manifest.kind, manifest.target, manifest.executor, manifest.status) == ("stage", "toy.seed", "ray", "succeeded")
        (entry,) = sdk.record(output.run_id).read_ledger()
        assert entry.node and entry.worker
    # the same inputs again: every task is a cache hit
    renamed = [c.model_copy(update={"run_id": f"again-{i}"}) for i, c in enumerate(contexts)]
    assert engine.map("toy.seed", renamed, {"n": 4, "offset": 1.5}) == [
        o.model_copy(update={"run_id": c.run_id}) for o, c in zip(outputs, renamed)
    ]
    assert all(sdk.record(c.run_id).read_ledger()[0].cache_hit for c in renamed)


def test_map_stages_finishes_every_context_then_names_each_failed_run(make_sdk):
    sdk = make_sdk()
    seeded = sdk.run_pipeline("toy.portfolio", profile="small", run_id="seeded", executor="ray").context
    contexts = [
        seeded.model_copy(update={"run_id": "scale-a"}),
        SelectionContext(run_id="scale-empty"),  # no numbers artifact: the stage fails
        seeded.model_copy(update={"run_id": "scale-b"}),
    ]
    with pytest.raises(StageFailedError) as failure:
        sdk.executor("ray").map_stages("toy.scale", contexts, {"factor": 3.0})
    assert failure.value.run_id == "scale-empty" and "KeyError" in failure.value.cause
    statuses = {c.run_id: sdk.record(c.run_id).read_manifest().status for c in contexts}
    assert statuses == {"scale-a": "succeeded", "scale-empty": "failed", "scale-b": "succeeded"}
    assert sdk.runtime().store.get_json(sdk.last_context("scale-b").artifacts["scaled"]) == [0.0, 3.0, 6.0]


def test_a_bad_parameter_found_on_the_worker_keeps_its_exit_code(make_sdk):
    sdk = make_sdk()
    with pytest.raises(RemoteQuantError, match="mode") as failure:
        sdk.executor("ray").map_stages("toy.scale", [SelectionContext(run_id="bad-param")], {"mode": "cubic"})
    assert failure.value.exit_code == 2
    assert sdk.record("bad-param").read_manifest().status == "failed"


def test_a_stage_retries_on_ray_as_it_does_locally(make_sdk, tmp_path):
    sdk = make_sdk()
    marker = tmp_path / "flaky-marker"
    (output,) = sdk.executor("ray").map_stages("toy.flaky", [SelectionContext(run_id="flaky")], {"marker": str(marker)})
    assert output.params["flaky"] == "ok"
    attempts = [(e.attempt, e.status) for e in sdk.record("flaky").read_ledger()]
    assert attempts == [(1, "failed"), (2, "succeeded")]


def test_a_user_error_is_not_retried(make_sdk):
    sdk = make_sdk()
    with pytest.raises(StageFailedError, match="market.csv: no returns at all") as failure:
        sdk.executor("ray").map_stages("test.reject_data", [SelectionContext(run_id="bad-data")], {})
    assert not failure.value.retryable
    assert [(e.attempt, e.status) for e in sdk.record("bad-data").read_ledger()] == [(1, "failed")]


def test_an_actor_killed_mid_sleeve_fails_that_sleeve_and_the_others_finish(make_sdk):
    sdk = make_sdk(crashing_sleeves=("beta",))
    with pytest.raises(SleeveFailureError) as failure:
        sdk.run_pipeline("crashy.meta", profile="crash_trio", run_id="crash", executor="ray")

    error = failure.value
    assert list(error.failures) == ["beta"] and error.exit_code == 5
    assert "stage 'test.crash' failed in run 'crash.beta': ActorDiedError: " in error.failures["beta"]
    assert "The actor died unexpectedly" in error.failures["beta"]

    last = sdk.expanded(sdk.last_context("crash"))
    assert {r.name: r.status for r in last.sleeve_results} == {"alpha": "succeeded", "beta": "failed", "gamma": "succeeded"}
    assert {r.name: r.summary.get("total") for r in last.sleeve_results if r.status == "succeeded"} == {"alpha": 6.0, "gamma": 6.0}
    assert [(e.stage_id, e.status) for e in sdk.record("crash").read_ledger()] == [("fan_out.crashy.portfolio", "failed")]
    # the dead sleeve's record shows the step that finished and the one its actor died in
    seed, crashed = sdk.record("crash.beta").read_ledger()
    assert (seed.stage_id, seed.status, crashed.stage_id, crashed.status) == ("toy.seed", "succeeded", "test.crash", "failed")
    assert crashed.error.startswith("ActorDiedError: ") and crashed.node == seed.node and crashed.worker == seed.worker
    assert sdk.record("crash.beta").read_manifest().status == "failed"
    for sleeve in ("alpha", "gamma"):
        assert [e.status for e in sdk.record(f"crash.{sleeve}").read_ledger()] == ["succeeded"] * 4


def test_a_worker_crash_under_a_task_is_that_runs_failure_not_retried(make_sdk):
    sdk = make_sdk()
    with pytest.raises(StageFailedError, match="WorkerCrashedError") as failure:
        sdk.executor("ray").map_stages("test.crash", [SelectionContext(run_id="task-crash")], {"exit": True})
    assert not failure.value.retryable
    (entry,) = sdk.record("task-crash").read_ledger()
    assert (entry.status, entry.attempt) == ("failed", 1) and entry.error.startswith("WorkerCrashedError: ")


def test_the_callers_ray_is_left_running_and_reused(make_sdk, ray_address):
    sdk = make_sdk()
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="reuse", executor="ray")
    assert ray.is_initialized() and ray.get_runtime_context().gcs_address == ray_address
    assert ray.get(ray.put("still here")) == "still here"
    # a `with` block over the caller's Ray does not stop it either
    with RayComputeEngine(runtime=sdk.runtime()) as engine:
        assert engine.connection.address == ray_address and not engine.connection.started
    assert ray.is_initialized()


def test_options_that_cannot_apply_are_refused_by_name(make_sdk, ray_address):
    sdk = make_sdk()
    with pytest.raises(ParamValidationError, match="num_cpus=4 sizes a local Ray.*already holds a Ray"):
        sdk.run_pipeline("toy.portfolio", profile="small", executor="ray", executor_options={"num_cpus": 4})
    port = int(ray_address.rsplit(":", 1)[1])
    with pytest.raises(RayClusterError, match="already initialised in this process.*cannot also join 10.255.0.1:6379"):
        sdk.run_pipeline("toy.portfolio", profile="small", executor="ray", executor_options={"ray_address": "10.255.0.1:6379"})
    # the same cluster under a local name is the same cluster
    result = sdk.run_pipeline(
        "toy.portfolio", profile="small", executor="ray", executor_options={"ray_address": f"127.0.0.1:{port}"}
    )
    assert result.status == "succeeded"
    with pytest.raises(ParamValidationError, match="sleeve_num_cpus=0 must be above 0"):
        sdk.executor("ray", sleeve_num_cpus=0)
    with pytest.raises(ParamValidationError, match="does not take the option.*workers"):
        sdk.executor("ray", workers=2)
    # a sleeve reservation no node could ever give would leave the actors pending for ever
    with pytest.raises(ParamValidationError, match="sleeve_num_cpus=3 is more than the 2 CPUs of the whole cluster"):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="too-big", executor="ray", executor_options={"sleeve_num_cpus": 3})
    assert sdk.record("too-big").read_manifest().status == "failed"
    assert not list(sdk.home.runs_dir.glob("too-big.*"))  # no sleeve started


def test_a_context_past_the_inline_limit_crosses_ray_by_artifact_reference(make_sdk):
    sdk = make_sdk()
    big = RunContext(run_id="big", params={"notes": "x" * (2 * wire.INLINE_LIMIT)})
    (output,) = sdk.executor("ray").map_stages("toy.noop", [big], {"index": 7})
    assert output.params["notes"] == big.params["notes"] and output.params["last"] == 7
    assert sdk.record("big").last_context() == output
    # the request and the outcome went through the store the driver named
    messages = [json.loads(p.read_bytes()) for p in sdk.home.artifacts_dir.glob("*/*")]
    request = [m for m in messages if m.get("stage_id") == "toy.noop" and "ledger" not in m]
    outcome = [m for m in messages if m.get("ledger") and m["ledger"][0]["run_id"] == "big"]
    assert len(request) == 1 and request[0]["context"]["params"] == big.params
    assert len(outcome) == 1 and outcome[0]["snapshots"] == [["001-toy.noop", "$context"]]


def test_an_outcome_carries_its_output_context_once():
    from quant_core.records import LedgerEntry
    from quant_core.remote import AttemptOutcome

    context = RunContext(run_id="r", params={"a": 1}).model_dump(mode="json")
    entry = LedgerEntry(run_id="r", step=1, stage_id="s.t", status="succeeded", started_at="t", duration_s=0.1, input_hash="h")
    outcome = AttemptOutcome(
        run_id="r", stage_id="s.t", step=1, attempt=1, context=context, ledger=[entry],
        snapshots=[("001-s.t", context)],
    )
    encoded = wire.encode_outcome(outcome)
    assert encoded.count('"params":{"a":1}') == 1
    assert wire.decode_outcome(encoded) == outcome
