"""The dbos executor on quant-core's toy pipelines, in this process: the same record and results as
the local executor, a second start of a run that executes nothing, the strict gate over every
sleeve and a fixed sleeve resumed, retries as DBOS steps, the sleeve queue's concurrency, and what
DBOS keeps per step."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest
from dbos import DBOS
from quant_core.errors import RunConflictError, SleeveFailureError
from quant_flows_dbos import EngineConflictError, shutdown
from quant_flows_dbos.continuation import workflow_status
from quant_flows_dbos.operations import workflow_states

SLEEVES = ["alpha", "beta", "gamma"]


def test_same_record_results_and_cache_as_the_local_executor(kit, database_url: str, tmp_path: Path) -> None:
    sdk = kit.toy_sdk(tmp_path / "home")
    durable = sdk.run_pipeline(
        "toy.meta", profile="trio", run_id="durable", executor="dbos",
        executor_options={"dbos_database_url": database_url, "workers": 2},
    )
    local_sdk = kit.toy_sdk(tmp_path / "local")
    local = local_sdk.run_pipeline("toy.meta", profile="trio", run_id="local")

    assert kit.output_hashes(sdk, "durable", SLEEVES) == kit.output_hashes(local_sdk, "local", SLEEVES)
    assert kit.meta_context_data(durable.context) == kit.meta_context_data(local.context)
    assert durable.context.meta_weights == pytest.approx({"alpha": 3 / 13, "beta": 7 / 13, "gamma": 3 / 13})
    manifest = durable.manifest
    assert (manifest.executor, manifest.status, manifest.engine["workflow_id"]) == ("dbos", "succeeded", "durable")
    assert {sdk.record(f"durable.{s}").read_manifest().parent_run_id for s in SLEEVES} == {"durable"}
    assert [e.stage_id for e in sdk.record("durable.beta").read_ledger()] == ["toy.seed", "toy.scale", "toy.sum"]
    assert [name for name, _ in sdk.record("durable").context_entries()] == [
        "000-input", "001-fan_out.toy.portfolio", "002-toy.meta_total"
    ]

    # One cache for every executor, both ways.
    after_dbos = sdk.run_pipeline("toy.meta", profile="trio", run_id="local-after")
    assert all(e.cache_hit for s in SLEEVES for e in sdk.record(f"local-after.{s}").read_ledger())
    assert after_dbos.ledger[-1].cache_hit
    shutdown()  # DBOS serves one QuantHome per process (one DBOS application each)
    after_local = local_sdk.run_pipeline(
        "toy.meta", profile="trio", run_id="dbos-after", executor="dbos",
        executor_options={"dbos_database_url": database_url},
    )
    assert all(e.cache_hit for s in SLEEVES for e in local_sdk.record(f"dbos-after.{s}").read_ledger())
    assert after_local.ledger[-1].cache_hit


def test_a_second_start_of_a_run_returns_its_result_and_executes_nothing(kit, sqlite_url: str, tmp_path: Path) -> None:
    sdk = kit.toy_sdk(tmp_path / "home")
    options = {"dbos_database_url": sqlite_url}
    first = sdk.run_pipeline("toy.meta", profile="trio", run_id="twice", executor="dbos", executor_options=options)
    records = ["twice", *(f"twice.{s}" for s in SLEEVES)]
    before = {run_id: sdk.record(run_id).path.joinpath(name).read_bytes()
              for run_id in records for name in ("manifest.json", "ledger.jsonl", "contexts.jsonl")}

    second = sdk.run_pipeline("toy.meta", profile="trio", run_id="twice", executor="dbos", executor_options=options)
    assert second.context == first.context
    after = {run_id: sdk.record(run_id).path.joinpath(name).read_bytes()
             for run_id in records for name in ("manifest.json", "ledger.jsonl", "contexts.jsonl")}
    assert after == before  # not a line written: nothing ran

    # The same run id for another request is refused, as on every executor.
    with pytest.raises(RunConflictError, match="already holds a DBOS workflow"):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="twice", executor="dbos",
                         executor_options=options, params={"toy.scale.factor": 5})


def test_every_sleeve_is_gathered_then_the_gate_and_a_fixed_sleeve_resumes(kit, database_url: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate-closed"
    gate.touch()
    sdk = kit.toy_sdk(tmp_path / "home", kit.build_profiles(gate_marker=str(gate)))
    options = {"dbos_database_url": database_url, "workers": 3}
    with pytest.raises(SleeveFailureError) as failure:
        sdk.run_pipeline("test.meta", profile="gated", run_id="gated", executor="dbos", executor_options=options)
    assert failure.value.exit_code == 5
    assert set(failure.value.failures) == {"beta"} and "gate closed" in failure.value.failures["beta"]
    gathered = sdk.expanded(sdk.record("gated").last_context())
    assert {r.name: r.status for r in gathered.sleeve_results} == {"alpha": "succeeded", "beta": "failed", "gamma": "succeeded"}
    assert [e.stage_id for e in sdk.record("gated").read_ledger()] == ["fan_out.test.sleeve"]  # no meta stage ran
    assert workflow_status(DBOS, "gated").status == "ERROR"

    gate.unlink()  # the cause is fixed: the run goes on at the step that failed
    result = sdk.resume("gated", executor_options={"dbos_database_url": database_url})
    assert result.status == "succeeded" and set(result.context.meta_weights) == set(SLEEVES)
    counts = kit.ledger_counts(sdk, ["gated", *(f"gated.{s}" for s in SLEEVES)])
    assert counts[("gated.beta", "toy.seed")] == ["succeeded"]
    assert counts[("gated.beta", "test.gate")] == ["failed", "succeeded"]
    assert all(counts[(f"gated.{s}", stage)] == ["succeeded"] for s in ("alpha", "gamma")
               for stage in ("toy.seed", "test.gate", "toy.scale", "toy.sum"))
    assert counts[("gated", "fan_out.test.sleeve")] == ["failed", "succeeded"]
    assert counts[("gated", "toy.meta_total")] == ["succeeded"]


def test_retries_are_steps_of_the_workflow(kit, sqlite_url: str, tmp_path: Path) -> None:
    sdk = kit.toy_sdk(tmp_path / "home")
    marker = tmp_path / "flaky-marker"
    result = sdk.run_pipeline(
        "test.retried", profile="small", run_id="retried", executor="dbos",
        params={"toy.flaky.marker": str(marker)}, executor_options={"dbos_database_url": sqlite_url},
    )
    assert result.context.params["flaky"] == "ok"
    flaky = [(e.attempt, e.status) for e in sdk.record("retried").read_ledger() if e.stage_id == "toy.flaky"]
    assert flaky == [(1, "failed"), (2, "succeeded")]
    steps = [s["function_name"] for s in DBOS.list_workflow_steps("retried")]
    assert steps == ["quant:1:toy.seed:1", "quant:2:toy.flaky:1", "quant:2:toy.flaky:2", "quant:3:toy.scale:1", "quant:4:toy.sum:1"]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_sleeve_queue_runs_at_most_workers_sleeves_at_once(kit, workers: int, sqlite_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "barrier"
    folder.mkdir()
    sdk = kit.toy_sdk(tmp_path / "home", kit.build_profiles(barrier_folder=str(folder), wait_for=workers))
    sdk.run_pipeline(
        "test.barrier_meta", profile="quad", run_id="quad", executor="dbos",
        executor_options={"dbos_database_url": sqlite_url, "workers": workers},
    )
    seen = [int(line.split()[1]) for line in (folder / "seen.log").read_text().splitlines()]
    assert len(seen) == 4 and max(seen) == workers
    if workers == 1:  # one after the other: no sleeve run started before the previous one ended
        spans = sorted((m.started_at, m.finished_at) for m in (sdk.record(f"quad.s{i}").read_manifest() for i in range(4)))
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))


def test_what_dbos_keeps_per_step_is_small_json(kit, sqlite_url: str, tmp_path: Path) -> None:
    sdk = kit.toy_sdk(tmp_path / "home")
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="small", executor="dbos",
                     executor_options={"dbos_database_url": sqlite_url})
    shutdown()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as database:
        rows = database.execute(
            "SELECT function_name, output, serialization FROM operation_outputs WHERE workflow_uuid = 'small' ORDER BY function_id"
        ).fetchall()
    assert [name for name, _, _ in rows] == ["quant:1:toy.seed:1", "quant:2:toy.scale:1", "quant:3:toy.sum:1"]
    contexts = dict(sdk.record("small").context_entries())
    for (name, output, serialization), snapshot in zip(rows, ["001-toy.seed", "002-toy.scale", "003-toy.sum"]):
        saved = json.loads(output)  # JSON text, not a pickle
        assert serialization == "portable_json"
        assert saved["output_snapshot"] == snapshot and "context" not in saved["outcome"]
        assert len(output) < len(json.dumps(contexts[snapshot])) + 1000


def test_a_large_inline_change_is_checkpointed_as_an_artifact_ref(kit, sqlite_url: str, tmp_path: Path) -> None:
    """A stage that keeps ~26 KB inline: its checkpoint holds a ref to the change in the artifact
    store, and a run killed after it and resumed replays it from there to the same result."""
    home = tmp_path / "home"
    kit.run_child(
        {"home": str(home), "database_url": sqlite_url, "registry": "toy", "action": "run",
         "pipeline": "test.wide_portfolio", "profile": "small", "run_id": "wide",
         "kill": {"stage": "toy.scale", "run_id": "wide"}, "marker": str(tmp_path / "killed"),
         "log": str(tmp_path / "executions.log")},
        expect_killed=True,
    )
    sdk = kit.toy_sdk(home)
    result = sdk.resume("wide", executor_options={"dbos_database_url": sqlite_url})
    wide = {s["function_name"]: s["output"] for s in DBOS.list_workflow_steps("wide")}["quant:2:test.wide:1"]
    assert "context_delta" not in wide and wide["context_delta_ref"]["size"] > 25_000
    assert len(json.dumps(wide)) < 2_000
    local = kit.toy_sdk(tmp_path / "local").run_pipeline("test.wide_portfolio", profile="small", run_id="wide")
    assert result.context.cache_view() == local.context.cache_view()
    counts = kit.ledger_counts(sdk, ["wide"])
    assert counts == {("wide", s): ["succeeded"] for s in ("toy.seed", "test.wide", "toy.scale", "toy.sum")}


def test_a_stage_run_is_a_workflow_too(kit, sqlite_url: str, tmp_path: Path) -> None:
    sdk = kit.toy_sdk(tmp_path / "home")
    result = sdk.run_stage("toy.seed", params={"n": 4}, run_id="one-stage", executor="dbos",
                           executor_options={"dbos_database_url": sqlite_url})
    assert (result.kind, result.manifest.executor, result.ledger[0].stage_id) == ("stage", "dbos", "toy.seed")
    assert workflow_status(DBOS, "one-stage").status == "SUCCESS"


def test_one_dbos_per_process(kit, sqlite_url: str, tmp_path: Path) -> None:
    sdk = kit.toy_sdk(tmp_path / "home")
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="first", executor="dbos",
                     executor_options={"dbos_database_url": sqlite_url})
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    with pytest.raises(EngineConflictError, match="DBOS is one per process"):
        sdk.run_pipeline("toy.portfolio", profile="small", run_id="second", executor="dbos",
                         executor_options={"dbos_database_url": other})
    shutdown()
    second = sdk.run_pipeline("toy.portfolio", profile="small", run_id="second", executor="dbos",
                              executor_options={"dbos_database_url": other})
    assert second.status == "succeeded"


def test_any_dbos_start_finishes_the_runs_a_crash_left(kit, database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    common = {"home": str(home), "database_url": database_url, "registry": "toy", "action": "run"}
    kit.run_child(
        {**common, "pipeline": "toy.meta", "profile": "trio", "run_id": "left",
         "kill": {"stage": "toy.sum", "run_id": "left.beta"}, "marker": str(tmp_path / "killed"),
         "log": str(tmp_path / "executions.log")},
        expect_killed=True,
    )
    # Another process starts an unrelated run on DBOS: it takes the crashed run over on launch and
    # finishes it before it returns.
    other = kit.run_child({**common, "pipeline": "toy.portfolio", "profile": "small", "run_id": "other"})
    assert other["status"] == "succeeded"
    sdk = kit.toy_sdk(home)
    assert sdk.record("left").read_manifest().status == "succeeded"
    counts = kit.ledger_counts(sdk, ["left", *(f"left.{s}" for s in SLEEVES)])
    assert len(counts) == 2 + 3 * 3 and all(statuses == ["succeeded"] for statuses in counts.values())


def test_ctrl_c_cancels_the_run_which_resume_continues(kit, sqlite_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    kit.run_child(
        {"home": str(home), "database_url": sqlite_url, "registry": "toy", "action": "run",
         "pipeline": "toy.meta", "profile": "trio", "run_id": "interrupted",
         "kill": {"stage": "toy.scale", "run_id": "interrupted.beta", "signal": "SIGINT"},
         "marker": str(tmp_path / "interrupted-once"), "log": str(tmp_path / "executions.log")},
        expect_exit=-signal.SIGINT,  # Python leaves by the signal after an unhandled KeyboardInterrupt
    )
    sdk = kit.toy_sdk(home)
    held = workflow_states(sdk.home, [sdk.record("interrupted").read_manifest()], sqlite_url)
    assert held["interrupted"]["status"] == "CANCELLED"
    result = sdk.resume("interrupted", executor_options={"dbos_database_url": sqlite_url})
    assert result.status == "succeeded"
    assert workflow_status(DBOS, "interrupted").status == "SUCCESS"
    counts = kit.ledger_counts(sdk, ["interrupted", *(f"interrupted.{s}" for s in SLEEVES)])
    assert len(counts) == 2 + 3 * 3 and all(statuses == ["succeeded"] for statuses in counts.values())
