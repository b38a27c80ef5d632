"""The machine dies in the middle of a stage of `meta.full` (the real stages, a small profile): a
process SIGKILLs itself inside sleeve b's `allocation.optimize`. `quant runs resume` in another
process finishes the run: no stage that had finished runs again (one execution each in the
ledgers), the stage that was cut runs again, and every stage's output and the final context are
bit-identical to an uninterrupted run on the local executor. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from quant_core import QuantSDK

RUN = "crash"
SLEEVES = ["a", "b"]
CUT_STAGE = "allocation.optimize"
SLEEVE_STAGES = [
    "selection.ingestion", "selection.features", "selection.inference", "selection.clustering",
    "selection.policy", "selection.synthesis", "allocation.optimize", "allocation.backtest",
]
META_STAGES = ["fan_out.portfolio.full", "meta.returns", "meta.optimize", "meta.flatten", "meta.report"]


def quant(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `quant` command, as a user runs it."""
    command = [str(Path(sys.executable).parent / "quant"), "--home", str(home), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def reference(kit, tmp_path_factory: pytest.TempPathFactory) -> tuple[QuantSDK, str]:
    """An uninterrupted run on the local executor, in a home of its own (nothing cached)."""
    home = tmp_path_factory.mktemp("reference")
    kit.write_tiny_profiles(home)
    sdk = QuantSDK(home=home)
    sdk.run_pipeline("meta.full", profile="tiny_meta", run_id="reference")
    return sdk, "reference"


def test_a_run_killed_inside_a_stage_resumes_where_it_stopped(
    kit, database_url: str, reference: tuple[QuantSDK, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    log = kit.kill_a_driver_mid_sleeve(home, database_url, tmp_path, run_id=RUN, stage=CUT_STAGE)
    sdk = QuantSDK(home=home)
    assert sdk.record(RUN).read_manifest().status == "interrupted"
    assert [s for (run, s) in kit.ledger_counts(sdk, [f"{RUN}.b"])] == SLEEVE_STAGES[:6]

    # DBOS still holds the run: `quant runs list` says so.
    listed = json.loads(quant(home, "runs", "list", "--json", "--dbos-database-url", database_url).stdout)["runs"]
    assert [(r["run_id"], r["engine_state"]["status"], r["engine_state"]["pending"]) for r in listed] == [
        (RUN, "PENDING", True)
    ]

    resumed = quant(home, "runs", "resume", RUN, "--json", "--dbos-database-url", database_url)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"

    # Every stage of every run has exactly one execution in its ledger: the finished ones were not
    # run again, and the cut one ran again (it started twice, its first start never finished).
    counts = kit.ledger_counts(sdk, [RUN, *(f"{RUN}.{s}" for s in SLEEVES)])
    expected = {(RUN, s): ["succeeded"] for s in META_STAGES}
    expected |= {(f"{RUN}.{sleeve}", s): ["succeeded"] for sleeve in SLEEVES for s in SLEEVE_STAGES}
    assert counts == expected
    # The first process ran sleeve a and b's first six stages, and died in b's cut stage; the
    # second ran the cut stage again and everything after it.
    first = kit.executions(log)[0][2]
    assert kit.executions(log) == [(f"{RUN}.a", CUT_STAGE, first), (f"{RUN}.b", CUT_STAGE, first)]
    ran_in = kit.workers(sdk, [f"{RUN}.{s}" for s in SLEEVES])
    assert {ran_in[(f"{RUN}.a", s)] for s in SLEEVE_STAGES} == {first}
    assert {ran_in[(f"{RUN}.b", s)] for s in SLEEVE_STAGES[:6]} == {first}
    second = {ran_in[(f"{RUN}.b", s)] for s in SLEEVE_STAGES[6:]}
    assert len(second) == 1 and first not in second
    manifest = sdk.record(RUN).read_manifest()
    assert (manifest.status, manifest.executor, manifest.invocations) == ("succeeded", "dbos", 2)
    assert manifest.engine["workflow_id"] == RUN

    # Bit-identical to an uninterrupted run on the local executor.
    reference_sdk, reference_run = reference
    assert kit.output_hashes(sdk, RUN, SLEEVES) == kit.output_hashes(reference_sdk, reference_run, SLEEVES)
    assert kit.meta_context_data(sdk.record(RUN).last_context()) == kit.meta_context_data(
        reference_sdk.record(reference_run).last_context()
    )

    # One cache for every executor: the local executor finds every stage of the DBOS run cached.
    again = sdk.run_pipeline("meta.full", profile="tiny_meta", run_id="local-again")
    sleeve_entries = [e for s in SLEEVES for e in sdk.record(f"local-again.{s}").read_ledger()]
    assert all(e.cache_hit for e in again.ledger if e.stage_id in META_STAGES[1:])
    assert sleeve_entries and all(e.cache_hit for e in sleeve_entries)

    # DBOS's view next to quant's in `quant runs show`.
    shown = json.loads(quant(home, "runs", "show", RUN, "--json", "--dbos-database-url", database_url).stdout)
    assert shown["manifest"]["status"] == "succeeded" and shown["engine_state"]["status"] == "SUCCESS"
    assert {s["run_id"]: s["engine_state"]["status"] for s in shown["sleeves"]} == {
        f"{RUN}.a": "SUCCESS", f"{RUN}.b": "SUCCESS"
    }
