"""A stage attempt's checkpoint, on real outcomes of real stages: the output context as the change
the stage made, the snapshot that repeats it left out, a large change moved to the artifact store
(and, if that artifact is gone when the step is replayed, read back from the run record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quant_core.context import SelectionContext
from quant_core.errors import ArtifactNotFoundError
from quant_core.remote import run_attempt
from quant_flows_dbos.checkpoints import INLINE_DELTA_BYTES, checkpoint, restore


def attempt(kit, tmp_path: Path, stage_id: str, params: dict):
    runtime = kit.toy_sdk(tmp_path / "home").runtime()
    given = SelectionContext(run_id="r", profile="small").model_dump(mode="json")
    outcome = run_attempt(runtime, run_id="r", step=1, stage_id=stage_id, context=given, params=params, executor="dbos")
    return runtime, given, outcome


def test_a_small_change_is_kept_inline(kit, tmp_path: Path) -> None:
    runtime, given, outcome = attempt(kit, tmp_path, "toy.seed", {"n": 3})
    saved = checkpoint(outcome, given, runtime.store)
    assert set(saved) == {"outcome", "context_delta", "audit_added", "output_snapshot"}
    assert set(saved["context_delta"]) == {"artifacts", "params"}  # what toy.seed changed
    assert saved["output_snapshot"] == "001-toy.seed" and saved["outcome"]["snapshots"] == []
    assert restore(json.loads(json.dumps(saved)), given, runtime.store) == outcome


def test_a_large_change_goes_to_the_artifact_store_and_the_record_backs_it(kit, tmp_path: Path) -> None:
    runtime, given, outcome = attempt(kit, tmp_path, "test.wide", {"n": 2000})
    saved = checkpoint(outcome, given, runtime.store)
    ref = saved["context_delta_ref"]
    assert "context_delta" not in saved and ref["size"] > INLINE_DELTA_BYTES
    assert len(json.dumps(saved)) < 2_000 < len(json.dumps(outcome.model_dump(mode="json")))
    assert restore(saved, given, runtime.store) == outcome

    # The artifact is gone (a store clean-up): the step's snapshot in the run record stands in.
    record = runtime.record("r")
    record.write_context("001-test.wide", SelectionContext.model_validate(outcome.context))
    runtime.store.path_for(ref["sha256"]).unlink()
    assert restore(saved, given, runtime.store, record) == outcome
    with pytest.raises(ArtifactNotFoundError):
        restore(saved, given, runtime.store)


def test_a_failed_attempt_is_checkpointed_whole(kit, tmp_path: Path) -> None:
    runtime, given, outcome = attempt(kit, tmp_path, "toy.scale", {"fail": True})
    saved = checkpoint(outcome, given, runtime.store)
    assert set(saved) == {"outcome"} and "asked to fail" in saved["outcome"]["error"]
    assert restore(saved, given, runtime.store) == outcome
