"""Issue point 11 and the stage contract: `QuantSDK.run_stage`, `run_pipeline`, fan-out over sleeves
(in process and on a process pool), mutation detection and retries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from quant_core import (
    ExecutorNotFoundError,
    FanOutStep,
    MetaContext,
    ParamValidationError,
    PipelineSpec,
    QuantSDK,
    RunContext,
    SleeveFailureError,
    Stage,
    StageFailedError,
)
from quant_core.execution import execute_stage_with_retries
from quant_core.testing import toy_registry

TRIO_WEIGHTS = {"alpha": 6 / 26, "beta": 14 / 26, "gamma": 6 / 26}


def test_run_stage_builds_a_fresh_context(sdk: QuantSDK) -> None:
    result = sdk.run_stage("toy.seed", params={"n": "3", "offset": "0.5"}, run_id="s-1")
    assert (result.kind, result.target, result.status) == ("stage", "toy.seed", "succeeded")
    assert type(result.context).__name__ == "SelectionContext"
    assert sdk.home.artifact_store().get_json(result.context.artifacts["numbers"]) == [0.5, 1.5, 2.5]
    assert result.context.params == {"toy.seed": {"n": 3, "offset": 0.5}}


def test_run_stage_continues_from_another_runs_context(sdk: QuantSDK) -> None:
    seeded = sdk.run_stage("toy.seed", params={"n": 4}, run_id="s-2")
    scaled = sdk.run_stage("toy.scale", context=seeded.context, params={"factor": 10}, run_id="s-3")
    assert scaled.context.run_id == "s-3"
    assert sdk.home.artifact_store().get_json(scaled.context.artifacts["scaled"]) == [0.0, 10.0, 20.0, 30.0]
    assert sdk.record("s-3").input_context().run_id == "s-3"


def test_run_stage_takes_params_from_a_profile_and_overrides_win(sdk: QuantSDK) -> None:
    from_profile = sdk.run_stage("toy.seed", profile="large", run_id="s-4")
    overridden = sdk.run_stage("toy.seed", profile="large", params={"n": 2}, run_id="s-5")
    store = sdk.home.artifact_store()
    assert len(store.get_json(from_profile.context.artifacts["numbers"])) == 8
    assert len(store.get_json(overridden.context.artifacts["numbers"])) == 2
    assert from_profile.context.profile == "large"


def test_run_pipeline_with_a_profile_and_a_subset_of_stages(sdk: QuantSDK) -> None:
    full = sdk.run_pipeline("toy.portfolio", profile="large", run_id="p-1")
    assert full.context.backtest == {"total": 14.0}
    only_seed = sdk.run_pipeline("toy.portfolio", stages=["toy.seed"], run_id="p-2")
    assert [e.stage_id for e in only_seed.ledger] == ["toy.seed"]
    with pytest.raises(ParamValidationError, match="'toy.sums' is not one of its steps"):
        sdk.run_pipeline("toy.portfolio", stages=["toy.sums"])


def test_an_unknown_executor_is_named(sdk: QuantSDK) -> None:
    with pytest.raises(ExecutorNotFoundError, match="pip install quant-flows-prefect"):
        sdk.run_pipeline("toy.portfolio", executor="prefect")


@pytest.mark.parametrize("workers", [1, 2])
def test_meta_pipeline_fans_out_over_sleeves(sdk: QuantSDK, workers: int) -> None:
    result = sdk.run_pipeline("toy.meta", profile="trio", run_id=f"meta-ok-{workers}", executor_options={"workers": workers})
    assert result.context.meta_weights == TRIO_WEIGHTS
    assert [(r.name, r.status, r.run_id, r.summary) for r in sdk.expanded(result.context).sleeve_results] == [
        ("alpha", "succeeded", f"meta-ok-{workers}.alpha", {"total": 6.0}),
        ("beta", "succeeded", f"meta-ok-{workers}.beta", {"total": 14.0}),
        ("gamma", "succeeded", f"meta-ok-{workers}.gamma", {"total": 6.0}),
    ]
    for sleeve in ("alpha", "beta", "gamma"):
        manifest = sdk.record(f"meta-ok-{workers}.{sleeve}").read_manifest()
        assert (manifest.status, manifest.parent_run_id) == ("succeeded", f"meta-ok-{workers}")
    assert [e.stage_id for e in result.ledger] == ["fan_out.toy.portfolio", "toy.meta_total"]


@pytest.mark.parametrize("workers", [1, 2])
def test_two_failing_sleeves_are_both_named_and_the_meta_stage_never_runs(
    make_sdk: Callable[..., QuantSDK], workers: int
) -> None:
    sdk = make_sdk(failing_sleeves=("alpha", "gamma"))
    run_id = f"meta-bad-{workers}"
    with pytest.raises(SleeveFailureError) as caught:
        sdk.run_pipeline("toy.meta", profile="trio", run_id=run_id, executor_options={"workers": workers})
    error = caught.value
    assert isinstance(error, RuntimeError)
    assert sorted(error.failures) == ["alpha", "gamma"]
    assert error.failures["alpha"] == (
        f"stage 'toy.scale' failed in run '{run_id}.alpha': RuntimeError: toy.scale was asked to fail"
    )
    assert str(error).startswith(f"2 sleeve(s) failed in run '{run_id}': alpha: ")
    assert "; gamma: " in str(error)

    ledger = sdk.record(run_id).read_ledger()
    assert [(e.stage_id, e.status) for e in ledger] == [("fan_out.toy.portfolio", "failed")]
    assert ledger[0].error == "failed sleeves: alpha, gamma"
    last = sdk.expanded(sdk.last_context(run_id))
    assert isinstance(last, MetaContext)
    assert [(r.name, r.status) for r in last.sleeve_results] == [
        ("alpha", "failed"), ("beta", "succeeded"), ("gamma", "failed"),
    ]
    assert last.meta_weights == {}
    assert sdk.record(run_id).read_manifest().status == "failed"
    assert sdk.record(f"{run_id}.beta").read_manifest().status == "succeeded"


def test_a_lenient_fan_out_lets_the_meta_stage_use_the_sleeves_that_succeeded(make_sdk: Callable[..., QuantSDK]) -> None:
    registry = toy_registry()
    registry.register_pipeline(
        PipelineSpec.of("probe.lenient", FanOutStep(pipeline="toy.portfolio", strict=False), "toy.meta_total", context_kind="meta")
    )
    sdk = make_sdk(failing_sleeves=("alpha",), registry=registry)
    result = sdk.run_pipeline("probe.lenient", profile="trio", run_id="lenient-1")
    assert result.context.meta_weights == {"beta": 14 / 20, "gamma": 6 / 20}


def test_a_fan_out_needs_a_meta_profile(sdk: QuantSDK) -> None:
    with pytest.raises(ParamValidationError, match="fans out over sleeves: give a meta profile"):
        sdk.run_pipeline("toy.meta")
    with pytest.raises(ParamValidationError, match="fans out over sleeves"):
        sdk.run_pipeline("toy.meta", profile="small")


def test_sleeve_overrides_reach_every_branch(sdk: QuantSDK) -> None:
    result = sdk.run_pipeline("toy.meta", profile="trio", params={"toy.scale.factor": "1"}, run_id="meta-params")
    # factor 1 everywhere: small sleeves 0+1+2 = 3, the large one 0+...+7 = 28
    assert [r.summary for r in sdk.expanded(result.context).sleeve_results] == [{"total": 3.0}, {"total": 28.0}, {"total": 3.0}]


def test_a_stage_that_mutates_its_input_is_caught(sdk: QuantSDK) -> None:
    with pytest.raises(StageFailedError) as caught:
        sdk.run_stage("toy.mutate", run_id="mutate-1")
    assert caught.value.cause == "ValueError: stage toy.mutate mutated its input context (it must return a new one)"
    (line,) = sdk.record("mutate-1").read_ledger()
    assert (line.status, line.error) == ("failed", caught.value.cause)


def test_retries_recover_a_flaky_stage(sdk: QuantSDK, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = sdk.run_stage("toy.flaky", params={"marker": str(marker)}, run_id="flaky-1")
    assert result.context.params["flaky"] == "ok"
    assert [(e.attempt, e.status, e.error) for e in result.ledger] == [
        (1, "failed", "RuntimeError: toy.flaky fails on its first attempt"),
        (2, "succeeded", None),
    ]


class _AlwaysFails(Stage[RunContext]):
    """Fails on every attempt; declares two retries with a 0.25 s base delay."""

    id = "probe.always_fails"
    retries = 2
    retry_delay_s = 0.25

    def execute(self, context: RunContext) -> RunContext:
        raise OSError("backend unavailable")


def test_retries_back_off_exponentially_and_give_up(sdk: QuantSDK) -> None:
    registry = toy_registry()
    registry.register(_AlwaysFails)
    runtime = QuantSDK(home=sdk.home, registry=registry).runtime()
    record = runtime.record("retry-1")
    slept: list[float] = []
    with pytest.raises(StageFailedError, match="OSError: backend unavailable"):
        execute_stage_with_retries(
            runtime, record, step=1, stage_id="probe.always_fails", context=RunContext(run_id="retry-1"),
            params={}, sleep=slept.append,
        )
    assert slept == [0.25, 0.5]
    assert [(e.attempt, e.status) for e in record.read_ledger()] == [(1, "failed"), (2, "failed"), (3, "failed")]


def test_parameter_errors_are_not_retried(sdk: QuantSDK) -> None:
    runtime = sdk.runtime()
    record = runtime.record("retry-2")
    slept: list[float] = []
    with pytest.raises(ParamValidationError):
        execute_stage_with_retries(
            runtime, record, step=1, stage_id="toy.flaky", context=RunContext(run_id="retry-2"),
            params={"marker": 3}, sleep=slept.append,
        )
    assert slept == []
    assert record.read_ledger() == []
