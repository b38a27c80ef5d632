"""Issue point 12: the executor protocol and the shared record helpers every backend uses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from quant_core import (
    Executor,
    MetaContext,
    ParamValidationError,
    PipelineSpec,
    ProfileCatalog,
    QuantHome,
    QuantSDK,
    RunContext,
    Runtime,
    SelectionContext,
    SleeveSpec,
    StageFailedError,
    StageStep,
)
from quant_core.execution import effective_params, execute_stage, recorded_run
from quant_core.executors import fanout
from quant_core.executors.local import LocalExecutor
from quant_core.testing import toy_profiles, toy_registry


class InlineExecutor:
    """The smallest backend: no retries, no fan-out, every record write through the shared helpers."""

    name = "inline"

    def __init__(self, runtime: Runtime, **options: Any) -> None:
        self.runtime = runtime

    def run_pipeline(
        self, spec: PipelineSpec, context: RunContext, params: Mapping[str, Mapping[str, Any]]
    ) -> RunContext:
        steps = self.runtime.registry.flatten(spec)
        with recorded_run(
            self.runtime, kind="pipeline", target=spec.id, context=context, params=params,
            steps=[s.model_dump(mode="json") for s in steps], executor=self.name,
        ) as record:
            for index, step in enumerate(steps, start=1):
                assert isinstance(step, StageStep)
                context = execute_stage(
                    self.runtime, record, step=index, stage_id=step.stage, context=context,
                    params=effective_params(step.params, params.get(step.stage, {})), executor=self.name,
                )
            return context

    def map(self, stage_id: str, contexts: Sequence[RunContext], params: Mapping[str, Any]) -> list[RunContext]:
        return [self.run_pipeline(PipelineSpec.of(stage_id, stage_id), c, {stage_id: params}) for c in contexts]


def test_executors_satisfy_the_protocol(tmp_path) -> None:
    runtime = Runtime(home=QuantHome.resolve(tmp_path, environ={}), registry=toy_registry())
    assert isinstance(LocalExecutor(runtime), Executor)
    assert isinstance(InlineExecutor(runtime), Executor)
    assert not isinstance(object(), Executor)


def _record_summary(sdk: QuantSDK, run_id: str) -> dict[str, Any]:
    record = sdk.record(run_id)
    return {
        "contexts": record.context_entries(),
        "ledger": [
            {k: v for k, v in e.model_dump().items() if k not in ("started_at", "duration_s")}
            for e in record.read_ledger()
        ],
        # the owner (host, pid, since) is this invocation's process, not part of the record's content
        "manifest": {
            k: v for k, v in record.read_manifest().model_dump().items() if not k.endswith("_at") and k != "owner"
        },
    }


def test_another_backend_built_on_the_shared_helpers_leaves_the_same_record(tmp_path) -> None:
    def sdk_at(name: str) -> QuantSDK:
        registry = toy_registry()
        registry.register_executor("inline", InlineExecutor)
        return QuantSDK(home=tmp_path / name, registry=registry, profiles=ProfileCatalog([toy_profiles()]))

    local, inline = sdk_at("local"), sdk_at("inline")
    by_local = local.run_pipeline("toy.portfolio", params={"n": 3}, run_id="same")
    by_inline = inline.run_pipeline("toy.portfolio", params={"n": 3}, run_id="same", executor="inline")
    assert by_inline.context == by_local.context

    local_record, inline_record = _record_summary(local, "same"), _record_summary(inline, "same")
    assert [e["executor"] for e in inline_record["ledger"]] == ["inline"] * 3
    assert inline_record["manifest"]["executor"] == "inline"
    for part in (local_record, inline_record):
        for entry in part["ledger"]:
            entry.pop("executor")
        part["manifest"].pop("executor")
    assert inline_record == local_record


def test_map_runs_each_context_as_its_own_run_and_raises_after_all(sdk: QuantSDK) -> None:
    executor = sdk.executor("local")
    outputs = executor.map("toy.noop", [RunContext(run_id=f"map-{i}") for i in range(3)], {"index": 5})
    assert [(o.run_id, o.params["last"]) for o in outputs] == [("map-0", 5), ("map-1", 5), ("map-2", 5)]

    seeded = sdk.run_stage("toy.seed", run_id="map-seed").context.model_copy(update={"run_id": "map-good"})
    # contexts without a `numbers` artifact make toy.scale fail with a KeyError
    contexts = [RunContext(run_id="map-bad-a"), seeded, RunContext(run_id="map-bad-b")]
    with pytest.raises(StageFailedError) as caught:
        executor.map("toy.scale", contexts, {})
    # both failures are reported, and the context between them still ran
    assert caught.value.run_id == "map-bad-a,map-bad-b"
    assert caught.value.cause == "map-bad-a: KeyError: 'numbers'; map-bad-b: KeyError: 'numbers'"
    assert sdk.record("map-good").read_manifest().status == "succeeded"
    assert sdk.record("map-bad-b").read_manifest().status == "failed"


def test_a_single_failed_run_keeps_its_own_error(sdk: QuantSDK) -> None:
    with pytest.raises(StageFailedError) as caught:
        sdk.run_stage("toy.scale", params={"fail": True}, run_id="single-fail")
    assert str(caught.value) == "stage 'toy.scale' failed in run 'single-fail': RuntimeError: toy.scale was asked to fail"


def test_local_executor_needs_at_least_one_worker(sdk: QuantSDK) -> None:
    with pytest.raises(ParamValidationError, match="workers=0 must be at least 1"):
        sdk.executor("local", workers=0)


def test_fan_out_branches_are_checked() -> None:
    with pytest.raises(TypeError, match="needs a MetaContext, got SelectionContext"):
        fanout.branches(SelectionContext(run_id="r"))
    with pytest.raises(ValueError, match="lists no sleeves"):
        fanout.branches(MetaContext(run_id="r"))
    twice = [SleeveSpec(name="a", profile="p"), SleeveSpec(name="a", profile="q")]
    with pytest.raises(ValueError, match=r"sleeve names must be unique, repeated: \['a'\]"):
        fanout.branches(MetaContext(run_id="r", sleeves=twice))
    (branch,) = fanout.branches(MetaContext(run_id="r", sleeves=[SleeveSpec(name="a", profile="p")]))
    assert branch.context == SelectionContext(run_id="r.a", profile="p")
