"""`quant pipeline list | show | run`: params, profiles, fan-outs and their exit codes."""

from __future__ import annotations

import json

import pytest

# Known answers for the toy meta pipeline with the `trio` profile: each sleeve sums
# factor * (0 + 1 + ... + n-1); small is n=3, factor 2 -> 6; large is n=8, factor 0.5 -> 14.
TRIO_TOTALS = {"alpha": 6.0, "beta": 14.0, "gamma": 6.0}


def test_pipeline_list(cli) -> None:
    result = cli("pipeline", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["pipelines"] == [
        {"id": "test.gated", "description": "", "context_kind": "selection", "steps": ["toy.seed", "test.gate"]},
        {
            "id": "test.meta_report", "description": "", "context_kind": "meta",
            "steps": ["fan_out.toy.portfolio", "toy.meta_total", "test.report"],
        },
        {"id": "toy.meta", "description": "", "context_kind": "meta", "steps": ["fan_out.toy.portfolio", "toy.meta_total"]},
        {"id": "toy.portfolio", "description": "", "context_kind": "selection", "steps": ["toy.seed", "toy.scale", "toy.sum"]},
    ]
    human = cli("pipeline", "list")
    assert "4 pipeline(s)" in human.stdout


def test_pipeline_show_lists_steps_with_the_fan_outs_branch(cli) -> None:
    document = json.loads(cli("pipeline", "show", "toy.meta", "--json").stdout)
    assert document == {
        "id": "toy.meta",
        "description": "",
        "context_kind": "meta",
        "steps": [
            {
                "step": 1, "kind": "fan_out", "id": "fan_out.toy.portfolio", "pipeline": "toy.portfolio",
                "over": "sleeves", "strict": True, "stages": ["toy.seed", "toy.scale", "toy.sum"],
            },
            {"step": 2, "kind": "stage", "id": "toy.meta_total", "params": {}},
        ],
    }
    human = cli("pipeline", "show", "toy.meta").stdout
    assert "toy.portfolio per sleeve (strict gate)" in human
    assert "└ toy.scale" in human


def test_pipeline_run_json_shape(cli, home) -> None:
    result = cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "p1", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {k: document[k] for k in ("run_id", "kind", "target", "status", "profile", "executor", "record")} == {
        "run_id": "p1", "kind": "pipeline", "target": "toy.portfolio", "status": "succeeded",
        "profile": "small", "executor": "local", "record": str(home / "runs" / "p1"),
    }
    assert [(s["id"], s["step"], s["status"], s["cache_hit"]) for s in document["stages"]] == [
        ("toy.seed", 1, "succeeded", False), ("toy.scale", 2, "succeeded", False), ("toy.sum", 3, "succeeded", False),
    ]
    assert all(set(s) >= {"id", "status", "cache_hit", "duration_s"} for s in document["stages"])
    assert document["outputs"]["backtest"] == {"total": 6.0}
    assert document["outputs"]["winners"] == ["N0", "N1", "N2"]
    assert (document["stage_count"], document["cache_hits"]) == (3, 0)
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("params", "total"),
    [
        (["-p", "toy.scale.factor=3"], 9.0),  # stage-qualified
        (["-p", "factor=3"], 9.0),  # bare: every step declaring `factor`
        (["-p", "n=4", "-p", "toy.scale.mode=square"], 28.0),  # (0+1+4+9) * 2
    ],
)
def test_pipeline_run_params_override_the_profile(cli, params: list[str], total: float) -> None:
    result = cli("pipeline", "run", "toy.portfolio", "--profile", "small", *params, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"]["backtest"] == {"total": total}


def test_a_bare_param_no_step_declares_is_exit_2(cli) -> None:
    result = cli("pipeline", "run", "toy.portfolio", "-p", "facter=3")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: toy.portfolio: no step declares a parameter 'facter'; did you mean 'factor'?"


def test_a_param_for_a_stage_not_in_the_pipeline_is_exit_2(cli) -> None:
    result = cli("pipeline", "run", "toy.portfolio", "-p", "toy.scal.factor=3")
    assert result.exit_code == 2
    assert "did you mean 'toy.scale'?" in result.stderr


def test_meta_pipeline_fans_out_and_reports_each_sleeve(cli) -> None:
    result = cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "m1", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [s["id"] for s in document["stages"]] == ["fan_out.toy.portfolio", "toy.meta_total"]
    assert [(s["name"], s["run_id"], s["status"]) for s in document["sleeves"]] == [
        ("alpha", "m1.alpha", "succeeded"), ("beta", "m1.beta", "succeeded"), ("gamma", "m1.gamma", "succeeded"),
    ]
    for sleeve in document["sleeves"]:
        assert [s["id"] for s in sleeve["stages"]] == ["toy.seed", "toy.scale", "toy.sum"]
    # gamma is alpha's twin (same profile, same data): served from alpha's cache entries.
    assert [s["cache_hit"] for s in document["sleeves"][2]["stages"]] == [True, True, True]
    assert document["stage_count"] == 10
    grand = sum(TRIO_TOTALS.values())
    assert document["outputs"]["meta_weights"] == pytest.approx({k: v / grand for k, v in TRIO_TOTALS.items()})


def test_a_bare_param_reaches_the_sleeves_stages(cli) -> None:
    result = cli("pipeline", "run", "toy.meta", "--profile", "trio", "-p", "factor=1", "--json")
    assert result.exit_code == 0, result.output
    totals = {r["name"]: r["summary"]["total"] for r in json.loads(result.stdout)["outputs"]["sleeve_results"]}
    assert totals == {"alpha": 3.0, "beta": 28.0, "gamma": 3.0}


def test_meta_pipeline_with_workers_gives_the_same_result(cli) -> None:
    serial = json.loads(cli("pipeline", "run", "toy.meta", "--profile", "trio", "--json", toy_only=True).stdout)
    pooled = cli(
        "pipeline", "run", "toy.meta", "--profile", "trio", "--workers", "2", "--force", "--json", toy_only=True
    )
    assert pooled.exit_code == 0, pooled.output
    parallel = json.loads(pooled.stdout)
    assert parallel["outputs"]["meta_weights"] == serial["outputs"]["meta_weights"]
    assert parallel["cache_hits"] == 0  # --force


def test_meta_pipeline_without_a_meta_profile_is_exit_2(cli) -> None:
    result = cli("pipeline", "run", "toy.meta")
    assert result.exit_code == 2
    assert "give a meta profile" in result.stderr


def test_a_failing_stage_in_a_pipeline_is_exit_4(cli) -> None:
    result = cli("pipeline", "run", "toy.portfolio", "-p", "toy.scale.fail=true", "--run-id", "broken", "--json")
    assert result.exit_code == 4
    error = json.loads(result.stdout)["error"]
    assert error == {
        "type": "StageFailedError",
        "message": "stage 'toy.scale' failed in run 'broken': RuntimeError: toy.scale was asked to fail",
        "exit_code": 4,
        "run_id": "broken",
        "stage_id": "toy.scale",
    }


def test_a_failed_sleeve_is_exit_5_naming_every_failed_sleeve(cli) -> None:
    result = cli(
        "pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "gate", "--json",
        failing_sleeves=("alpha", "gamma"),
    )
    assert result.exit_code == 5
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "SleeveFailureError"
    assert error["run_id"] == "gate"
    assert sorted(error["failures"]) == ["alpha", "gamma"]
    assert error["failures"]["alpha"] == (
        "stage 'toy.scale' failed in run 'gate.alpha': RuntimeError: toy.scale was asked to fail"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: 2 sleeve(s) failed in run 'gate': alpha: ")


def test_a_failed_sleeve_progress_shows_the_failure(cli) -> None:
    result = cli("pipeline", "run", "toy.meta", "--profile", "trio", failing_sleeves=("alpha",))
    assert result.exit_code == 5
    assert "✗ alpha › toy.scale" in result.stderr
    assert "✓ beta › toy.sum" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["pipeline", "run", "toy.portfoli"], "error: unknown pipeline 'toy.portfoli'; did you mean 'toy.portfolio', 'toy.meta'?"),
        (["pipeline", "show", "toy.met"], "error: unknown pipeline 'toy.met'; did you mean 'toy.meta', 'toy.portfolio'?"),
        (
            ["pipeline", "run", "toy.portfolio", "--profile", "smal"],
            "error: unknown profile 'smal'; did you mean 'small'?",
        ),
    ],
)
def test_unknown_names_are_exit_3(cli, args: list[str], line: str) -> None:
    result = cli(*args)
    assert result.exit_code == 3
    assert result.stderr.strip() == line


def test_unknown_executor_is_exit_3_and_names_its_package(cli) -> None:
    result = cli("pipeline", "run", "toy.portfolio", "--executor", "prefect", "--json")
    assert result.exit_code == 3
    message = json.loads(result.stdout)["error"]["message"]
    assert message.startswith("unknown executor 'prefect'")
    assert "quant-flows-prefect" in message


def test_progress_follows_the_run_on_stderr(cli) -> None:
    result = cli("pipeline", "run", "toy.meta", "--profile", "trio")
    assert result.exit_code == 0
    progress = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    names = [line.split()[1] if "›" not in line else " ".join(line.split()[1:4]) for line in progress]
    # Lines come in the order the attempts finished: every sleeve stage before the fan-out line.
    assert names[-2:] == ["fan_out.toy.portfolio", "toy.meta_total"]
    assert sorted(names[:-2]) == sorted(f"{s} › {t}" for s in TRIO_TOTALS for t in ("toy.seed", "toy.scale", "toy.sum"))
    # gamma is alpha's twin, served from the entries alpha just made.
    assert "3 of 10 stage(s) served from the cache, 7 computed" in result.stdout


@pytest.mark.parametrize(
    "flag",
    [
        ("--ray-address", "127.0.0.1:6379"), ("--task-runner", "ray"), ("--dbos-database-url", "sqlite:///x"),
        ("--prefect-api-url", "http://127.0.0.1:4200/api"),
    ],
)
def test_an_option_the_executor_does_not_take_is_a_usage_error_naming_it(cli, flag) -> None:
    result = cli("pipeline", "run", "toy.portfolio", "--profile", "small", *flag, "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    option = flag[0].removeprefix("--").replace("-", "_")
    assert f"executor 'local' does not take the option(s) {option}" in error["message"]
