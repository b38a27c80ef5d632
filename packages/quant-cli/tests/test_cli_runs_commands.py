"""`quant runs list | show | resume` and `quant run URI`."""

from __future__ import annotations

import json
from pathlib import Path


def test_runs_list_newest_first_without_sleeves_unless_asked(cli) -> None:
    assert json.loads(cli("runs", "list", "--json").stdout) == {"runs": [], "damaged": []}
    assert "no runs recorded yet" in cli("runs", "list").stdout
    cli("stage", "run", "toy.seed", "--run-id", "first", "--json")
    cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "second", "--json")

    top = json.loads(cli("runs", "list", "--json").stdout)["runs"]
    assert [r["run_id"] for r in top] == ["second", "first"]
    assert top[0]["kind"] == "pipeline" and top[0]["status"] == "succeeded" and top[0]["profile"] == "trio"

    everything = json.loads(cli("runs", "list", "--all", "--json").stdout)["runs"]
    assert sorted(r["run_id"] for r in everything) == ["first", "second", "second.alpha", "second.beta", "second.gamma"]
    assert {r["parent_run_id"] for r in everything if r["run_id"].startswith("second.")} == {"second"}

    human = cli("runs", "list").stdout
    assert "2 run(s)" in human and "second" in human


def test_runs_show_manifest_ledger_and_sleeves(cli, home: Path) -> None:
    cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "shown", "-p", "toy.scale.factor=3", "--json")
    document = json.loads(cli("runs", "show", "shown", "--json").stdout)
    assert document["run_id"] == "shown"
    assert document["record"] == str(home / "runs" / "shown")
    manifest = document["manifest"]
    assert (manifest["kind"], manifest["target"], manifest["status"], manifest["invocations"]) == (
        "pipeline", "toy.meta", "succeeded", 1,
    )
    assert [(e["step"], e["stage_id"], e["status"]) for e in document["ledger"]] == [
        (1, "fan_out.toy.portfolio", "succeeded"), (2, "toy.meta_total", "succeeded"),
    ]
    assert [s["run_id"] for s in document["sleeves"]] == ["shown.alpha", "shown.beta", "shown.gamma"]
    assert [e["stage_id"] for e in document["sleeves"][1]["ledger"]] == ["toy.seed", "toy.scale", "toy.sum"]
    # The override reached every sleeve's params.
    assert json.loads(cli("runs", "show", "shown.beta", "--json").stdout)["manifest"]["params"]["toy.scale"]["factor"] == 3.0

    human = cli("runs", "show", "shown").stdout
    assert "fan_out.toy.portfolio" in human
    assert "sleeve run shown.alpha (succeeded)" in human


def test_runs_show_unknown_run_is_exit_3_with_suggestion(cli) -> None:
    cli("stage", "run", "toy.seed", "--run-id", "known-run", "--json")
    result = cli("runs", "show", "known-rum", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"] == {
        "type": "RunNotFoundError",
        "message": "unknown run 'known-rum'; did you mean 'known-run'?",
        "exit_code": 3,
    }


def test_runs_show_bad_run_id_is_exit_2(cli) -> None:
    result = cli("runs", "show", "../etc")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid run id '../etc'")


def test_resume_of_a_finished_run_is_served_from_the_cache(cli) -> None:
    cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "done", "--json")
    result = cli("runs", "resume", "done", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["run_id"] == "done"
    assert document["invocations"] == 2
    assert [s["cache_hit"] for s in document["stages"]] == [True, True, True]
    assert document["outputs"]["backtest"] == {"total": 6.0}


def test_resume_continues_a_failed_run_at_the_failed_step(cli, tmp_path: Path) -> None:
    marker = tmp_path / "gate-closed"
    marker.write_text("closed")
    failed = cli("pipeline", "run", "test.gated", "--run-id", "gated", "-p", f"test.gate.marker={marker}")
    assert failed.exit_code == 4
    assert "quant runs resume gated" in failed.stderr
    assert json.loads(cli("runs", "show", "gated", "--json").stdout)["manifest"]["status"] == "failed"

    marker.unlink()  # the user fixes the cause
    resumed = cli("runs", "resume", "gated", "--json")
    assert resumed.exit_code == 0, resumed.output
    document = json.loads(resumed.stdout)
    assert document["status"] == "succeeded"
    assert [(s["id"], s["cache_hit"]) for s in document["stages"]] == [("toy.seed", True), ("test.gate", False)]
    assert document["outputs"]["winners"] == ["gate-open"]
    # The ledger keeps both invocations: the failed attempt and the resumed one.
    ledger = json.loads(cli("runs", "show", "gated", "--json").stdout)["ledger"]
    assert [(e["stage_id"], e["status"]) for e in ledger] == [
        ("toy.seed", "succeeded"), ("test.gate", "failed"), ("toy.seed", "succeeded"), ("test.gate", "succeeded"),
    ]


def test_resume_a_stage_run_with_progress(cli) -> None:
    cli("stage", "run", "toy.seed", "--run-id", "single", "--json")
    result = cli("runs", "resume", "single")
    assert result.exit_code == 0
    assert "↺ toy.seed" in result.stderr  # only this invocation's line, shown as cached
    assert result.stderr.count("toy.seed") == 1
    assert "served from the cache: all 1 stage(s) were cache hits" in result.stdout


def test_resume_unknown_run_is_exit_3(cli) -> None:
    assert cli("runs", "resume", "nothing-here").exit_code == 3


def test_run_uri_for_a_stage(cli, home: Path) -> None:
    result = cli("run", "quant://toy/seed?run_id=from-uri&n=2&offset=1", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["run_id"], document["kind"], document["target"]) == ("from-uri", "stage", "toy.seed")
    from quant_core.artifacts import ArtifactRef, ArtifactStore

    ref = ArtifactRef.model_validate(document["outputs"]["artifacts"]["numbers"])
    assert ArtifactStore(home / "artifacts").get_json(ref) == [1.0, 2.0]


def test_run_uri_for_a_pipeline_chooses_a_run_id(cli) -> None:
    result = cli("run", "quant://pipeline/toy.meta?profile=trio&factor=1", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["run_id"].startswith("toy.meta-")
    assert document["kind"] == "pipeline"
    assert {r["name"]: r["summary"]["total"] for r in document["outputs"]["sleeve_results"]} == {
        "alpha": 3.0, "beta": 28.0, "gamma": 3.0,
    }
    assert len(document["sleeves"]) == 3


def test_run_uri_errors(cli) -> None:
    malformed = cli("run", "http://toy/seed", "--json")
    assert malformed.exit_code == 2
    assert json.loads(malformed.stdout)["error"]["type"] == "URIError"
    unknown = cli("run", "quant://toy/sed")
    assert unknown.exit_code == 3
    assert "did you mean 'toy.seed'" in unknown.stderr
    failing = cli("run", "quant://toy/scale?fail=true")
    assert failing.exit_code == 4
