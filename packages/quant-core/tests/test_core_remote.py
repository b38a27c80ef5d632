"""`quant_core.remote`: a stage attempt run away from the driver, its outcome as JSON, and the
driver writing it into the record exactly as the local executor would have."""

from __future__ import annotations

import pytest

from quant_core import ParamValidationError, QuantHome, QuantSDK, Runtime, SelectionContext, StageFailedError
from quant_core.errors import DataValidationError, is_retryable
from quant_core.executors.options import check_executor_options
from quant_core.remote import AttemptOutcome, RemoteQuantError, apply_outcome, run_attempt
from quant_core.testing import toy_registry


@pytest.fixture
def runtime(tmp_path):
    return Runtime(home=QuantHome(tmp_path / "home"), registry=toy_registry(), versions={})


def _remote(runtime, stage_id, context, params, **kw):
    """Run an attempt and send its outcome through JSON, as every engine boundary does."""
    outcome = run_attempt(
        runtime, run_id=context.run_id, step=kw.pop("step", 1), stage_id=stage_id,
        context=context.model_dump(mode="json"), params=params, executor="test", **kw,
    )
    return AttemptOutcome.model_validate_json(outcome.model_dump_json())


def test_a_remote_attempt_records_what_a_local_one_does(runtime, tmp_path):
    context = SelectionContext(run_id="r-remote")
    outcome = _remote(runtime, "toy.seed", context, {"n": 3}, node="node-1", worker="w-7")
    assert outcome.succeeded and not outcome.cache_hit
    assert len(outcome.model_dump_json()) < 10_000

    record = runtime.record("r-remote")
    output = apply_outcome(record, outcome)
    assert runtime.store.get_json(output.artifacts["numbers"]) == [0.0, 1.0, 2.0]
    (entry,) = record.read_ledger()
    assert (entry.stage_id, entry.status, entry.node, entry.worker, entry.executor) == (
        "toy.seed", "succeeded", "node-1", "w-7", "test",
    )
    assert record.context_names() == ["001-toy.seed"]
    assert record.last_context() == output

    again = _remote(runtime, "toy.seed", context, {"n": 3})
    assert again.cache_hit and apply_outcome(record, again) == output


def test_a_failed_attempt_comes_back_as_data_and_is_raised_after_recording(runtime):
    context = SelectionContext(run_id="r-fail")
    seeded = apply_outcome(runtime.record("r-fail"), _remote(runtime, "toy.seed", context, {"n": 2}))
    outcome = _remote(runtime, "toy.scale", seeded, {"fail": True}, step=2, attempt=2)
    assert not outcome.succeeded and outcome.retryable and outcome.attempt == 2
    with pytest.raises(StageFailedError, match="toy.scale was asked to fail") as raised:
        apply_outcome(runtime.record("r-fail"), outcome)
    assert raised.value.retryable
    last = runtime.record("r-fail").read_ledger()[-1]
    assert (last.stage_id, last.attempt, last.status) == ("toy.scale", 2, "failed")


def test_a_bad_parameter_on_a_worker_keeps_its_class_and_exit_code(runtime):
    outcome = _remote(runtime, "toy.scale", SelectionContext(run_id="r-param"), {"mode": "cubic"})
    assert not outcome.retryable and outcome.exit_code == 2
    with pytest.raises(RemoteQuantError, match="mode") as raised:
        apply_outcome(runtime.record("r-param"), outcome)
    assert raised.value.exit_code == 2 and raised.value.error_type == "ParamValidationError"


def test_user_errors_are_not_retryable():
    assert is_retryable(RuntimeError("disk hiccup"))
    assert not is_retryable(DataValidationError("bad row", source="x.csv", rule="finite"))
    assert not is_retryable(ParamValidationError("bad", param="n", value=0, rule="minimum"))
    assert not StageFailedError("s", "r", DataValidationError("bad")).retryable
    assert StageFailedError("s", "r", "TimeoutError: slow").retryable


def test_executor_options_are_checked_against_the_factory(tmp_path):
    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), versions={})
    with pytest.raises(ParamValidationError, match="executor 'local' does not take the option.*ray_address.*workers"):
        sdk.executor("local", ray_address="127.0.0.1:6379")
    assert sdk.executor("local", workers=2).workers == 2

    def anything(runtime, **options):
        return options

    check_executor_options("open", anything, {"whatever": 1})


def test_an_attempt_lost_with_its_worker_is_recorded_by_the_driver_and_not_retried(runtime):
    from quant_core.records import StepTimer
    from quant_core.remote import lost_attempt

    context = SelectionContext(run_id="r-lost")
    outcome = lost_attempt(
        run_id="r-lost", step=3, stage_id="toy.scale", context=context, attempt=1,
        error="ActorDiedError: The actor died unexpectedly", executor="test", timer=StepTimer(), node="n-1",
    )
    assert not outcome.retryable and not outcome.succeeded
    with pytest.raises(StageFailedError, match="toy.scale.*r-lost.*ActorDiedError") as raised:
        apply_outcome(runtime.record("r-lost"), AttemptOutcome.model_validate_json(outcome.model_dump_json()))
    assert not raised.value.retryable
    (entry,) = runtime.record("r-lost").read_ledger()
    assert (entry.step, entry.status, entry.error, entry.node, entry.executor) == (
        3, "failed", "ActorDiedError: The actor died unexpectedly", "n-1", "test",
    )
    assert entry.input_hash == outcome.ledger[0].input_hash and len(entry.input_hash) == 64


def test_the_manifest_says_where_an_executor_ran_the_work(runtime):
    from quant_core.execution import recorded_run

    context = SelectionContext(run_id="r-engine")
    with recorded_run(
        runtime, kind="stage", target="toy.seed", context=context, params={}, steps=[], executor="test",
        engine={"address": "10.0.0.1:6379", "ray_version": "2.60.0"},
    ):
        pass
    manifest = runtime.record("r-engine").read_manifest()
    assert manifest.engine == {"address": "10.0.0.1:6379", "ray_version": "2.60.0"}
    assert manifest.status == "succeeded"
def test_prepare_stage_gives_the_key_the_attempt_is_cached_under(runtime):
    from quant_core.execution import prepare_stage

    context = SelectionContext(run_id="r-key")
    prepared = prepare_stage(runtime, "toy.seed", context, {"n": 4})
    assert prepared.params == {"n": 4, "offset": 0.0}
    outcome = _remote(runtime, "toy.seed", context, {"n": 4})
    assert [entry.cache_key for entry in outcome.ledger] == [prepared.cache_key]
    # another run over the same input has the same key (the run id is not data)
    assert prepare_stage(runtime, "toy.seed", SelectionContext(run_id="r-other"), {"n": 4}).cache_key == prepared.cache_key
    assert prepare_stage(runtime, "toy.seed", context, {"n": 5}).cache_key != prepared.cache_key


def test_record_outcome_writes_a_retried_failure_without_raising_it(runtime):
    from quant_core.remote import record_outcome

    context = SelectionContext(run_id="r-retried")
    seeded = apply_outcome(runtime.record("r-retried"), _remote(runtime, "toy.seed", context, {"n": 2}))
    failed = _remote(runtime, "toy.scale", seeded, {"fail": True}, step=2)
    record_outcome(runtime.record("r-retried"), failed)
    assert [(e.stage_id, e.status) for e in runtime.record("r-retried").read_ledger()] == [
        ("toy.seed", "succeeded"), ("toy.scale", "failed"),
    ]


def test_a_run_records_its_engine_link_and_a_resumed_invocation_replaces_it(runtime):
    from quant_core.execution import recorded_run

    context = SelectionContext(run_id="r-engine")
    for flow_run in ("f-1", "f-2"):
        with recorded_run(
            runtime, kind="stage", target="toy.seed", context=context, params={}, steps=[], executor="test",
            engine={"name": "test-engine", "flow_run_id": flow_run},
        ):
            pass
    manifest = runtime.record("r-engine").read_manifest()
    assert manifest.engine == {"name": "test-engine", "flow_run_id": "f-2"} and manifest.invocations == 2
