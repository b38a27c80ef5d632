"""`quant stage list | schema | run`, through Typer's CliRunner on the toy registry."""

from __future__ import annotations

import json
from pathlib import Path

from quant_core.artifacts import ArtifactRef, ArtifactStore
from quant_core.testing import toy_registry


def stored_json(home: Path, ref: dict) -> object:
    return ArtifactStore(home / "artifacts").get_json(ArtifactRef.model_validate(ref))


def test_stage_list_json_lists_every_stage_sorted(cli) -> None:
    result = cli("stage", "list", "--json")
    assert result.exit_code == 0, result.output
    stages = json.loads(result.stdout)["stages"]
    assert [s["id"] for s in stages] == [
        "test.gate", "test.report", "toy.flaky", "toy.meta_total", "toy.mutate", "toy.noop",
        "toy.scale", "toy.seed", "toy.sum",
    ]
    scale = next(s for s in stages if s["id"] == "toy.scale")
    assert scale == {
        "id": "toy.scale",
        "name": "scale",
        "version": "1",
        "tags": ["toy"],
        "context_kind": "selection",
        "retries": 0,
        "description": "Multiply the numbers by `factor`; `fail=True` makes it raise (for failure tests).",
        "params": ["factor", "fail", "mode"],
    }
    assert result.stderr == ""


def test_stage_list_filters_by_tag(cli) -> None:
    tagged = json.loads(cli("stage", "list", "--tag", "toy", "--json").stdout)["stages"]
    assert len(tagged) == 7 and all("toy" in s["tags"] for s in tagged)
    assert json.loads(cli("stage", "list", "--tag", "nope", "--json").stdout) == {"stages": []}


def test_stage_list_human_output_is_a_table(cli) -> None:
    result = cli("stage", "list", "--tag", "toy")
    assert result.exit_code == 0
    assert "7 stage(s)" in result.stdout
    assert "toy.meta_total" in result.stdout


def test_stage_schema_is_the_spec_description(cli) -> None:
    result = cli("stage", "schema", "toy.seed", "--json")
    assert result.exit_code == 0
    described = json.loads(result.stdout)
    assert described == toy_registry().get("toy.seed").describe()
    assert described["input_schema"]["properties"]["n"]["minimum"] == 1
    # Without --json it is the same JSON, pretty-printed.
    assert json.loads(cli("stage", "schema", "toy.seed").stdout) == described


def test_stage_run_json_shape_and_known_output(cli, home: Path) -> None:
    result = cli("stage", "run", "toy.seed", "--run-id", "seed-1", "-p", "n=4", "--param", "offset=0.5", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["run_id"] == "seed-1"
    assert document["kind"] == "stage"
    assert document["target"] == "toy.seed"
    assert document["status"] == "succeeded"
    assert document["record"] == str(home / "runs" / "seed-1")
    assert [(s["id"], s["status"], s["cache_hit"]) for s in document["stages"]] == [("toy.seed", "succeeded", False)]
    assert isinstance(document["stages"][0]["duration_s"], float)
    assert document["sleeves"] == []
    assert "audit_trail" not in document["outputs"]
    assert document["outputs"]["run_id"] == "seed-1"
    assert stored_json(home, document["outputs"]["artifacts"]["numbers"]) == [0.5, 1.5, 2.5, 3.5]
    assert result.stderr == ""  # no progress with --json


def test_stage_run_accepts_stage_qualified_params(cli, home: Path) -> None:
    document = json.loads(cli("stage", "run", "toy.seed", "-p", "toy.seed.n=2", "--json").stdout)
    assert stored_json(home, document["outputs"]["artifacts"]["numbers"]) == [0.0, 1.0]


def test_stage_run_twice_is_served_from_the_cache(cli) -> None:
    first = json.loads(cli("stage", "run", "toy.seed", "--run-id", "a1", "--json").stdout)
    second = json.loads(cli("stage", "run", "toy.seed", "--run-id", "a2", "--json").stdout)
    forced = json.loads(cli("stage", "run", "toy.seed", "--run-id", "a3", "--force", "--json").stdout)
    assert [d["stages"][0]["cache_hit"] for d in (first, second, forced)] == [False, True, False]
    assert (second["cache_hits"], second["stage_count"]) == (1, 1)


def test_stage_run_with_a_profile(cli, home: Path) -> None:
    document = json.loads(cli("stage", "run", "toy.seed", "--profile", "large", "--json").stdout)
    assert document["outputs"]["profile"] == "large"
    assert stored_json(home, document["outputs"]["artifacts"]["numbers"]) == [float(i) for i in range(8)]


def test_stage_run_human_output_and_progress_on_stderr(cli) -> None:
    result = cli("stage", "run", "toy.seed", "--run-id", "human-1")
    assert result.exit_code == 0
    assert "✓ stage toy.seed succeeded" in result.stdout
    assert "run id: human-1" in result.stdout
    assert "1 stage(s) computed, none from the cache" in result.stdout
    assert "✓ toy.seed" in result.stderr  # the progress line
    assert "toy.seed" in result.stderr and "done" in result.stderr


def test_from_run_reruns_one_stage_on_an_earlier_runs_data(cli, home: Path) -> None:
    base = cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "yesterday", "--json")
    assert json.loads(base.stdout)["outputs"]["backtest"] == {"total": 6.0}  # (0+1+2)*2

    rescaled = cli(
        "stage", "run", "toy.scale", "--from-run", "yesterday", "-p", "factor=10", "--run-id", "today", "--json"
    )
    assert rescaled.exit_code == 0, rescaled.output
    outputs = json.loads(rescaled.stdout)["outputs"]
    assert outputs["run_id"] == "today"
    assert outputs["profile"] == "small"  # the earlier run's context, kept
    assert stored_json(home, outputs["artifacts"]["scaled"]) == [0.0, 10.0, 20.0]

    summed = cli("stage", "run", "toy.sum", "--from-run", "today", "--json")
    assert json.loads(summed.stdout)["outputs"]["backtest"] == {"total": 30.0}


def test_from_an_unknown_run_is_exit_3_with_a_suggestion(cli) -> None:
    cli("stage", "run", "toy.seed", "--run-id", "yesterday", "--json")
    result = cli("stage", "run", "toy.scale", "--from-run", "yesterdy")
    assert result.exit_code == 3
    assert result.stderr.strip() == "error: unknown run 'yesterdy'; did you mean 'yesterday'?"


def test_unknown_stage_is_exit_3_with_did_you_mean(cli) -> None:
    result = cli("stage", "run", "toy.scal")
    assert result.exit_code == 3
    assert result.stderr.strip() == "error: unknown stage 'toy.scal'; did you mean 'toy.scale', 'toy.sum', 'toy.seed'?"
    assert "Traceback" not in result.output
    assert result.stdout == ""

    schema = cli("stage", "schema", "toy.sed", "--json")
    assert schema.exit_code == 3
    assert json.loads(schema.stdout) == {
        "error": {
            "type": "StageNotFoundError",
            "message": "unknown stage 'toy.sed'; did you mean 'toy.seed', 'toy.scale', 'toy.sum'?",
            "exit_code": 3,
        }
    }
    assert schema.stderr.strip() == "error: unknown stage 'toy.sed'; did you mean 'toy.seed', 'toy.scale', 'toy.sum'?"


def test_a_failing_stage_is_exit_4_in_one_line(cli) -> None:
    result = cli("stage", "run", "toy.scale", "-p", "fail=true", "--run-id", "boom")
    assert result.exit_code == 4
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        "error: stage 'toy.scale' failed in run 'boom': RuntimeError: toy.scale was asked to fail "
        "(fix the cause, then `quant runs resume boom` continues from the failed step)"
    )
    assert "Traceback" not in result.stderr

    as_json = cli("stage", "run", "toy.scale", "-p", "fail=true", "--run-id", "boom2", "--json")
    assert as_json.exit_code == 4
    error = json.loads(as_json.stdout)["error"]
    assert (error["type"], error["exit_code"], error["run_id"], error["stage_id"]) == (
        "StageFailedError", 4, "boom2", "toy.scale",
    )


def test_debug_shows_the_traceback(cli) -> None:
    result = cli("--debug", "stage", "run", "toy.scale", "-p", "fail=true")
    assert result.exit_code == 4
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: toy.scale was asked to fail" in result.stderr


def test_bad_parameter_values_are_exit_2_naming_the_parameter(cli) -> None:
    below = cli("stage", "run", "toy.seed", "-p", "n=0")
    assert below.exit_code == 2
    assert "'n'" in below.stderr and "Traceback" not in below.stderr

    not_a_number = cli("stage", "run", "toy.seed", "-p", "n=abc", "--json")
    assert not_a_number.exit_code == 2
    error = json.loads(not_a_number.stdout)["error"]
    assert error["type"] == "ParamValidationError" and "'n'" in error["message"]

    unknown = cli("stage", "run", "toy.seed", "-p", "nn=3")
    assert unknown.exit_code == 2
    assert "nn" in unknown.stderr


def test_malformed_param_is_exit_2(cli) -> None:
    result = cli("stage", "run", "toy.seed", "--param", "n5", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["message"] == (
        "malformed --param 'n5': expected name=value (e.g. --param n=5)"
    )
    assert result.stderr.strip() == "error: malformed --param 'n5': expected name=value (e.g. --param n=5)"


def test_bad_run_id_is_exit_2(cli) -> None:
    result = cli("stage", "run", "toy.seed", "--run-id", "no spaces please")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid run id 'no spaces please'")


def test_run_id_reused_for_another_request_is_exit_2(cli) -> None:
    assert cli("stage", "run", "toy.seed", "--run-id", "taken").exit_code == 0
    result = cli("stage", "run", "toy.seed", "-p", "n=2", "--run-id", "taken")
    assert result.exit_code == 2
    assert "already holds" in result.stderr


def test_unknown_executor_names_the_package_that_provides_it(cli) -> None:
    result = cli("stage", "run", "toy.seed", "--executor", "ray")
    assert result.exit_code == 3
    assert "quant-compute-ray" in result.stderr


def test_from_run_with_the_wrong_kind_of_context_is_exit_2(cli) -> None:
    cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "meta-run", "--json")
    result = cli("stage", "run", "toy.scale", "--from-run", "meta-run")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: a MetaContext cannot be given to a stage that takes a SelectionContext: stage toy.scale was given "
        "the meta context of run meta-run. Run meta-run is a meta run; its sleeves' runs hold selection contexts: "
        "meta-run.alpha, meta-run.beta, meta-run.gamma (e.g. --from-run meta-run.alpha)"
    )


def test_from_run_widens_a_plain_run_context(cli) -> None:
    cli("stage", "run", "toy.noop", "-p", "index=3", "--run-id", "plain", "--json")
    result = cli("stage", "run", "toy.seed", "--from-run", "plain", "-p", "n=1", "--json")
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout)["outputs"]
    assert outputs["kind"] == "selection"
    assert outputs["params"]["last"] == 3  # what toy.noop wrote, carried over
