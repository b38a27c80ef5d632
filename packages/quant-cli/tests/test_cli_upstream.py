"""A stage run with nothing to start from runs the steps before it in its pipeline first."""

from __future__ import annotations

import json

from quant_core.testing import toy_registry

from quant_cli.upstream import Upstream, upstream_of


def test_the_upstream_of_a_stage_is_what_comes_before_it_in_its_shortest_pipeline() -> None:
    registry = toy_registry()
    assert upstream_of(registry, "toy.sum") == Upstream("toy.portfolio", "toy.sum", ("toy.seed", "toy.scale"))
    assert upstream_of(registry, "toy.meta_total") == Upstream("toy.meta", "toy.meta_total", ("fan_out.toy.portfolio",))
    assert upstream_of(registry, "toy.seed") is None  # the first step: it loads its own data
    assert upstream_of(registry, "toy.noop") is None  # in no pipeline


def test_stage_run_with_a_profile_runs_and_names_its_upstream_steps(cli) -> None:
    result = cli("stage", "run", "toy.sum", "--profile", "small", "--run-id", "summed")
    assert result.exit_code == 0, result.output
    assert "toy.sum needs the steps before it in pipeline toy.portfolio: toy.seed → toy.scale" in result.stderr
    assert "✓ stage toy.sum succeeded (after 2 step(s) of pipeline toy.portfolio)" in result.stdout

    document = json.loads(cli("runs", "show", "summed", "--json").stdout)
    assert [e["stage_id"] for e in document["ledger"]] == ["toy.seed", "toy.scale", "toy.sum"]
    assert document["manifest"]["target"] == "toy.sum"
    assert document["results"]["selection"] == {"winners": ["N0", "N1", "N2"]}  # toy.sum's Outputs


def test_upstream_steps_come_from_the_cache_and_params_reach_the_stage_alone(cli) -> None:
    cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--json")
    document = json.loads(cli("stage", "run", "toy.scale", "--profile", "small", "-p", "factor=10", "--json").stdout)
    assert document["upstream"] == {"pipeline": "toy.portfolio", "steps": ["toy.seed"]}
    assert [(s["id"], s["cache_hit"]) for s in document["stages"]] == [("toy.seed", True), ("toy.scale", False)]
    assert document["outputs"]["params"]["toy.scale"]["factor"] == 10.0
    assert document["outputs"]["params"]["toy.seed"] == {"n": 3, "offset": 0.0}  # the profile's, untouched


def test_the_uri_of_a_stage_runs_its_upstream_steps_too(cli) -> None:
    result = cli("run", "quant://toy/sum?profile=large&run_id=by-uri", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["upstream"]["steps"] == ["toy.seed", "toy.scale"]
    assert document["outputs"]["backtest"] == {"total": 14.0}  # large: n=8, factor 0.5


def test_a_stage_run_with_upstream_steps_resumes_like_any_run(cli, tmp_path) -> None:
    marker = tmp_path / "gate-closed"
    marker.write_text("closed")
    failed = cli("stage", "run", "test.gate", "-p", f"marker={marker}", "--run-id", "resumable")
    assert failed.exit_code == 4
    assert "quant runs resume resumable" in failed.stderr
    marker.unlink()  # the user fixes the cause
    resumed = json.loads(cli("runs", "resume", "resumable", "--json").stdout)
    assert resumed["status"] == "succeeded"
    assert [(s["id"], s["cache_hit"]) for s in resumed["stages"]] == [("toy.seed", True), ("test.gate", False)]
    assert resumed["outputs"]["winners"] == ["gate-open"]


def test_a_first_step_or_from_run_runs_the_stage_alone(cli) -> None:
    alone = json.loads(cli("stage", "run", "toy.seed", "--profile", "small", "--run-id", "seeded", "--json").stdout)
    assert alone["upstream"] is None and [s["id"] for s in alone["stages"]] == ["toy.seed"]
    chained = json.loads(cli("stage", "run", "toy.scale", "--from-run", "seeded", "--json").stdout)
    assert chained["upstream"] is None and [s["id"] for s in chained["stages"]] == ["toy.scale"]


def test_a_meta_stage_runs_its_fan_out_first_with_a_meta_profile(cli) -> None:
    document = json.loads(cli("stage", "run", "toy.meta_total", "--profile", "trio", "--json").stdout)
    assert document["upstream"]["steps"] == ["fan_out.toy.portfolio"]
    assert [s["name"] for s in document["sleeves"]] == ["alpha", "beta", "gamma"]
    assert document["outputs"]["meta_weights"]["beta"] == 14 / 26
    missing = cli("stage", "run", "toy.meta_total", "--profile", "small")
    assert missing.exit_code == 2
    assert "give a meta profile" in missing.stderr
