"""Issue point 7: the stage cache, and resuming a failed run at the step that failed."""

from __future__ import annotations

import json

import hashlib

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from core_strategies import artifact_refs, json_objects, names, run_ids, text
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quant_core import (
    AuditEvent,
    PipelineSpec,
    QuantSDK,
    SelectionContext,
    StageFailedError,
)
from quant_core.cache import cache_key
from quant_core.hashing import canonical_json
from quant_core.testing import Flaky, toy_registry


class FlakyOnce(Flaky):
    """`toy.flaky` without retries: fails once (leaving its marker file), then works."""

    id = "probe.flaky_once"
    retries = 0


def _resumable_sdk(make_sdk: Callable[..., QuantSDK], marker: Path) -> QuantSDK:
    registry = toy_registry()
    registry.register(FlakyOnce)
    registry.register_pipeline(
        PipelineSpec.of(
            "probe.resumable", "toy.seed",
            {"stage": "probe.flaky_once", "params": {"marker": str(marker)}}, "toy.scale", "toy.sum",
        )
    )
    return make_sdk(registry=registry)


def _steps(result: Any) -> list[tuple[str, str, bool]]:
    return [(e.stage_id, e.status, e.cache_hit) for e in result.ledger]


def test_running_a_finished_pipeline_again_executes_no_stage(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.portfolio", params={"n": 6}, run_id="c-1")
    second = sdk.run_pipeline("toy.portfolio", params={"n": 6}, run_id="c-2")
    assert _steps(first) == [("toy.seed", "succeeded", False), ("toy.scale", "succeeded", False), ("toy.sum", "succeeded", False)]
    assert _steps(second) == [("toy.seed", "succeeded", True), ("toy.scale", "succeeded", True), ("toy.sum", "succeeded", True)]
    assert [e.output_hash for e in second.ledger] == [e.output_hash for e in first.ledger]
    assert second.context.run_id == "c-2"
    assert second.context.cache_view() == first.context.cache_view()
    assert second.context.backtest == {"total": 30.0}
    # each run has its own full record, cache hits included
    assert len(sdk.record("c-2").context_names()) == 4


def test_other_params_miss_the_cache_from_the_changed_step_on(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="c-3")
    changed = sdk.run_pipeline("toy.portfolio", params={"factor": 3}, run_id="c-4")
    assert [e.cache_hit for e in changed.ledger] == [True, False, False]
    assert changed.context.backtest == {"total": 30.0}  # 3 * (0+1+2+3+4)


def test_a_failed_run_resumes_at_the_failed_step(make_sdk: Callable[..., QuantSDK], tmp_path: Path) -> None:
    marker = tmp_path / "flaky-marker"
    sdk = _resumable_sdk(make_sdk, marker)
    with pytest.raises(StageFailedError) as caught:
        sdk.run_pipeline("probe.resumable", run_id="resume-1")
    assert caught.value.stage_id == "probe.flaky_once"
    assert marker.exists()  # the outside condition that made step 2 fail is gone now
    assert [(e.stage_id, e.status, e.cache_hit) for e in sdk.record("resume-1").read_ledger()] == [
        ("toy.seed", "succeeded", False), ("probe.flaky_once", "failed", False),
    ]

    resumed = sdk.resume("resume-1")
    assert resumed.status == "succeeded"
    assert _steps(resumed) == [
        ("toy.seed", "succeeded", True),
        ("probe.flaky_once", "succeeded", False),
        ("toy.scale", "succeeded", False),
        ("toy.sum", "succeeded", False),
    ]
    assert resumed.context.params["flaky"] == "ok"
    assert resumed.context.backtest == {"total": 20.0}
    manifest = sdk.record("resume-1").read_manifest()
    assert (manifest.status, manifest.invocations, manifest.error) == ("succeeded", 2, None)
    assert len(sdk.record("resume-1").read_ledger()) == 6


def test_resuming_a_finished_run_executes_nothing(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="resume-2")
    again = sdk.resume("resume-2")
    assert [e.cache_hit for e in again.ledger] == [True, True, True]


def test_resuming_a_meta_run_serves_sleeves_and_meta_stage_from_the_cache(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.meta", profile="trio", run_id="resume-meta")
    again = sdk.resume("resume-meta")
    assert [(e.stage_id, e.cache_hit) for e in again.ledger] == [
        ("fan_out.toy.portfolio", False), ("toy.meta_total", True),
    ]
    assert again.context.meta_weights == first.context.meta_weights
    sleeve_ledger = sdk.record("resume-meta.alpha").read_ledger()
    assert [e.cache_hit for e in sleeve_ledger] == [False, False, False, True, True, True]


def test_resuming_a_stage_run(sdk: QuantSDK) -> None:
    sdk.run_stage("toy.seed", params={"n": 3}, run_id="resume-stage")
    again = sdk.resume("resume-stage")
    assert (again.kind, [e.cache_hit for e in again.ledger]) == ("stage", [True])


def test_a_damaged_cache_entry_is_a_miss_that_runs_again_and_repairs_it(sdk: QuantSDK) -> None:
    sdk.run_stage("toy.noop", params={"index": 1}, run_id="corrupt-1")
    (entry,) = sdk.home.cache_dir.rglob("*.json")
    entry.write_text("{not json")
    again = sdk.run_stage("toy.noop", params={"index": 1}, run_id="corrupt-2")
    assert [(e.cache_hit, e.status) for e in again.ledger] == [(False, "succeeded")]
    (repaired,) = again.ledger[0].repaired
    assert repaired.startswith(f"cache entry {entry} is damaged")
    (event,) = [e for e in again.context.audit_trail if e.code == "cache-repaired"]
    assert (event.level, event.data["damaged"]) == ("warning", [repaired])
    # the entry was written again, whole: the next run is served from it, with nothing to repair
    third = sdk.run_stage("toy.noop", params={"index": 1}, run_id="corrupt-3")
    assert [(e.cache_hit, e.repaired) for e in third.ledger] == [(True, [])]
    assert not [e for e in third.context.audit_trail if e.code == "cache-repaired"]


def test_a_deleted_artifact_makes_its_stage_run_again(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.portfolio", run_id="c-5")
    scaled = first.context.artifacts["scaled"]
    store = sdk.home.artifact_store()
    store.path_for(scaled.sha256).unlink()
    second = sdk.run_pipeline("toy.portfolio", run_id="c-6")
    assert [e.cache_hit for e in second.ledger] == [True, False, True]
    assert store.get(scaled) == store.get(second.context.artifacts["scaled"])


def test_force_ignores_the_cache(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.portfolio", run_id="c-7")
    forced = sdk.run_pipeline("toy.portfolio", run_id="c-8", force=True)
    assert [e.cache_hit for e in forced.ledger] == [False, False, False]
    assert [e.output_hash for e in forced.ledger] == [e.output_hash for e in first.ledger]
    assert [e.cache_hit for e in sdk.run_stage("toy.noop", run_id="c-9", force=True).ledger] == [False]


def test_ledger_cache_key_is_the_documented_formula(sdk: QuantSDK) -> None:
    result = sdk.run_pipeline("toy.portfolio", params={"n": 2}, run_id="c-10")
    start = SelectionContext(run_id="c-10")
    expected = cache_key("toy.seed", "1", {"n": 2, "offset": 0.0}, canonical_json(start.cache_view()), {})
    assert result.ledger[0].cache_key == expected
    # and the formula itself, written out independently of quant_core.hashing/cache
    def plain(value: object) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    view = start.model_dump(mode="json", exclude={"run_id", "audit_trail"})
    head = plain({"stage_id": "toy.seed", "stage_version": "1", "params": {"n": 2, "offset": 0.0}, "inputs": {}})
    assert result.ledger[0].cache_key == hashlib.sha256(head + b"\n" + plain(view)).hexdigest()


# -- the key changes when params, version or input change, and only then -------------------------

#: Lighter than `core_strategies.selection_contexts` (these tests only need varied data).
selection_contexts = st.builds(
    SelectionContext, run_id=run_ids, params=json_objects,
    artifacts=st.dictionaries(names, artifact_refs(), max_size=2),
    winners=st.lists(names, max_size=3), backtest=json_objects,
)
params_maps = st.dictionaries(st.sampled_from(["n", "offset", "factor", "mode"]), st.integers(0, 3) | text, max_size=4)


def _key(context: SelectionContext, params: dict[str, Any], version: str = "1") -> str:
    return cache_key("toy.scale", version, params, canonical_json(context.cache_view()))


@settings(max_examples=40, deadline=None)
@given(selection_contexts, params_maps, run_ids, st.lists(st.builds(AuditEvent, stage_id=st.just("x.y"), code=text, message=text), max_size=2))
def test_run_id_and_audit_trail_are_not_part_of_the_key(
    context: SelectionContext, params: dict[str, Any], run_id: str, events: list[AuditEvent]
) -> None:
    other = context.model_copy(update={"run_id": run_id, "audit_trail": events})
    reordered = dict(reversed(list(params.items())))
    assert _key(other, reordered) == _key(context, params)


@settings(max_examples=40, deadline=None)
@given(selection_contexts, params_maps, params_maps)
def test_other_params_give_another_key(context: SelectionContext, params: dict[str, Any], others: dict[str, Any]) -> None:
    assume(params != others)
    assert _key(context, others) != _key(context, params)


@settings(max_examples=40, deadline=None)
@given(selection_contexts, params_maps, st.text(max_size=3))
def test_another_version_gives_another_key(context: SelectionContext, params: dict[str, Any], version: str) -> None:
    assume(version != "1")
    assert _key(context, params, version) != _key(context, params)


@settings(max_examples=40, deadline=None)
@given(selection_contexts, params_maps, json_objects, st.lists(text, min_size=1, max_size=3))
def test_other_input_data_gives_another_key(
    context: SelectionContext, params: dict[str, Any], backtest: dict[str, Any], winners: list[str]
) -> None:
    assume(backtest != context.backtest)
    assert _key(context.model_copy(update={"backtest": backtest}), params) != _key(context, params)
    assume(winners != context.winners)
    assert _key(context.model_copy(update={"winners": winners}), params) != _key(context, params)
