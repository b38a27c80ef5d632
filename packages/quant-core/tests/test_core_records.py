"""Issue point 6: every run leaves `runs/<run_id>/` with a manifest, a ledger line per stage attempt
and the context after each step; run ids are validated or generated."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from quant_core import (
    InvalidRunIdError,
    ParamValidationError,
    QuantSDK,
    RunConflictError,
    RunNotFoundError,
    SelectionContext,
    StageFailedError,
    context_from_data,
    context_from_json,
)
from quant_core.context import RUN_ID_PATTERN
from quant_core.hashing import content_hash
from quant_core.records import RunRecord, new_run_id, validate_run_id

LEDGER_FIELDS = {
    "run_id", "step", "stage_id", "attempt", "status", "started_at", "duration_s", "input_hash",
    "output_hash", "cache_key", "cache_hit", "error", "executor", "repaired", "node", "worker", "trace_id",
    "checksum",  # every line is sealed with the sha256 of its own text
}


def _ledger_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]


def test_a_pipeline_run_leaves_manifest_ledger_and_contexts(sdk: QuantSDK) -> None:
    result = sdk.run_pipeline("toy.portfolio", params={"n": 4}, run_id="rec-1")
    run_dir = sdk.home.runs_dir / "rec-1"
    assert result.record == run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == ["contexts.jsonl", "ledger.jsonl", "lock", "manifest.json"]

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {k: manifest[k] for k in ("run_id", "kind", "target", "executor", "status", "error", "profile")} == {
        "run_id": "rec-1", "kind": "pipeline", "target": "toy.portfolio", "executor": "local",
        "status": "succeeded", "error": None, "profile": None,
    }
    assert manifest["params"] == {"toy.seed": {"n": 4, "offset": 0.0}}
    assert [s["stage"] for s in manifest["steps"]] == ["toy.seed", "toy.scale", "toy.sum"]
    assert {"quant-core", "pydantic", "jsonschema"} - set(manifest["versions"]) == {"jsonschema"}
    assert manifest["created_at"] <= manifest["started_at"] <= manifest["finished_at"]
    datetime.fromisoformat(manifest["finished_at"])

    lines = _ledger_lines(run_dir)
    assert [(e["step"], e["stage_id"], e["attempt"], e["status"], e["cache_hit"], e["error"]) for e in lines] == [
        (1, "toy.seed", 1, "succeeded", False, None),
        (2, "toy.scale", 1, "succeeded", False, None),
        (3, "toy.sum", 1, "succeeded", False, None),
    ]
    assert all(set(e) == LEDGER_FIELDS for e in lines)
    assert all(e["duration_s"] >= 0 and datetime.fromisoformat(e["started_at"]) for e in lines)

    snapshots = [json.loads(line) for line in (run_dir / "contexts.jsonl").read_text().splitlines()]
    contexts = [snapshot["name"] for snapshot in snapshots]
    assert contexts == ["000-input", "001-toy.seed", "002-toy.scale", "003-toy.sum"]
    start = context_from_data(snapshots[0]["context"])
    assert start == SelectionContext(run_id="rec-1")
    after = [context_from_data(snapshot["context"]) for snapshot in snapshots[1:]]
    assert after[-1] == result.context
    assert result.context.backtest == {"total": 12.0}  # 2 * (0 + 1 + 2 + 3)

    # The hashes chain: each stage's input is the previous context, each output the context written.
    assert lines[0]["input_hash"] == content_hash(start.cache_view())
    for line, context in zip(lines, after):
        assert line["output_hash"] == content_hash(context.cache_view())
    assert [e["input_hash"] for e in lines[1:]] == [e["output_hash"] for e in lines[:-1]]


def test_result_carries_this_invocations_ledger(sdk: QuantSDK) -> None:
    result = sdk.run_pipeline("toy.portfolio", run_id="rec-2")
    assert (result.run_id, result.kind, result.target, result.status) == ("rec-2", "pipeline", "toy.portfolio", "succeeded")
    assert [e.stage_id for e in result.ledger] == ["toy.seed", "toy.scale", "toy.sum"]
    assert result.cache_hits == 0
    assert sdk.last_context("rec-2") == result.context
    assert [m.run_id for m in sdk.list_runs()] == ["rec-2"]


def test_a_failed_stage_is_on_the_record(make_sdk) -> None:
    sdk = make_sdk()
    with pytest.raises(StageFailedError) as caught:
        sdk.run_pipeline("toy.portfolio", params={"fail": "true"}, run_id="rec-fail")
    assert (caught.value.stage_id, caught.value.run_id) == ("toy.scale", "rec-fail")
    assert caught.value.cause == "RuntimeError: toy.scale was asked to fail"
    record = sdk.record("rec-fail")
    manifest = record.read_manifest()
    assert manifest.status == "failed"
    assert manifest.error == "stage 'toy.scale' failed in run 'rec-fail': RuntimeError: toy.scale was asked to fail"
    assert [(e.stage_id, e.status, e.error, e.output_hash) for e in record.read_ledger()] == [
        ("toy.seed", "succeeded", None, record.read_ledger()[0].output_hash),
        ("toy.scale", "failed", "RuntimeError: toy.scale was asked to fail", None),
    ]
    # the last context is the one after the last step that succeeded
    assert record.context_names() == ["000-input", "001-toy.seed"]
    assert "numbers" in sdk.last_context("rec-fail").artifacts


@pytest.mark.parametrize("bad", ["", "-starts-with-dash", "has space", "a/b", "../escape", "x" * 129, "é"])
def test_bad_run_ids_are_rejected_with_the_rule(sdk: QuantSDK, bad: str) -> None:
    with pytest.raises(InvalidRunIdError) as caught:
        validate_run_id(bad)
    assert isinstance(caught.value, ParamValidationError)
    assert (caught.value.param, caught.value.rule) == ("run_id", "pattern")
    assert RUN_ID_PATTERN in str(caught.value)
    assert "at most 128 characters" in str(caught.value)
    if bad:  # an empty id means "generate one"
        with pytest.raises(InvalidRunIdError):
            sdk.run_pipeline("toy.portfolio", run_id=bad)
    # rejected before anything was written
    assert not sdk.home.runs_dir.exists() or not any(sdk.home.runs_dir.iterdir())


def test_longest_valid_run_id_is_accepted() -> None:
    assert validate_run_id("a" * 128) == "a" * 128
    assert validate_run_id("A1_.-z") == "A1_.-z"


def test_a_run_id_is_generated_when_none_is_given(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.portfolio")
    second = sdk.run_pipeline("toy.portfolio")
    assert first.run_id != second.run_id
    for run_id in (first.run_id, second.run_id):
        assert re.fullmatch(r"toy\.portfolio-\d{8}T\d{6}Z-[0-9a-f]{6}", run_id)
        assert (sdk.home.runs_dir / run_id / "manifest.json").is_file()
    assert re.fullmatch(RUN_ID_PATTERN, new_run_id("x" * 200))


def test_reusing_a_run_id_for_another_request_is_an_error(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="rec-3")
    with pytest.raises(RunConflictError, match="run id 'rec-3' already holds a pipeline run of 'toy.portfolio'"):
        sdk.run_pipeline("toy.portfolio", params={"n": 7}, run_id="rec-3")
    # the same request again is allowed: it is served from the cache, and counted
    again = sdk.run_pipeline("toy.portfolio", run_id="rec-3")
    assert again.cache_hits == 3
    assert sdk.record("rec-3").read_manifest().invocations == 2
    assert len(sdk.record("rec-3").read_ledger()) == 6


def test_unknown_run_is_a_not_found_error(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="known-run")
    with pytest.raises(RunNotFoundError) as caught:
        sdk.last_context("knwn-run")
    assert str(caught.value) == "unknown run 'knwn-run'; did you mean 'known-run'?"
    with pytest.raises(RunNotFoundError):
        RunRecord(sdk.home.runs_dir, "missing").read_manifest()
