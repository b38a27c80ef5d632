"""Run ids as people type them (unique prefix or short id), sleeve runs under their meta run, and
a wrong-kind context that names the runs that would fit."""

from __future__ import annotations

import json

import pytest
from quant_core.errors import RunNotFoundError

from quant_cli.run_ids import AmbiguousRunIdError, match_run_id, short_id

META = "meta.full-20261202T005825Z-5cbff2"
IDS = [META, f"{META}.equities", f"{META}.crypto", "meta.full-20261202T005852Z-aa0c0d", "portfolio.full-20261202T005853Z-40f884", "mine"]


def test_short_id_is_the_random_part_of_a_generated_id() -> None:
    assert short_id(META) == "5cbff2"
    assert short_id(f"{META}.equities") == "5cbff2.equities"
    assert short_id("mine") == "mine"  # chosen ids are kept whole


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (META, META),  # the full id
        ("5cbff2", META),  # a short id, exactly, though its sleeves' short ids start with it
        ("5cbff2.eq", f"{META}.equities"),  # a prefix of a short id
        ("aa0", "meta.full-20261202T005852Z-aa0c0d"),
        ("portf", "portfolio.full-20261202T005853Z-40f884"),  # a prefix of the id
        ("mi", "mine"),
    ],
)
def test_a_reference_names_one_run(reference: str, expected: str) -> None:
    assert match_run_id(reference, IDS) == expected


def test_an_ambiguous_prefix_lists_the_candidates() -> None:
    with pytest.raises(AmbiguousRunIdError) as caught:
        match_run_id("meta.full-20261202T0058", IDS)
    assert caught.value.exit_code == 2
    assert caught.value.candidates == sorted(i for i in IDS if i.startswith("meta.full-20261202T0058"))
    assert "5cbff2.crypto (meta.full-20261202T005825Z-5cbff2.crypto)" in str(caught.value)
    assert str(caught.value).endswith("; give more of it")


def test_no_match_is_an_unknown_run_with_suggestions() -> None:
    with pytest.raises(RunNotFoundError) as caught:
        match_run_id("mien", IDS)
    assert "did you mean 'mine'" in str(caught.value)


def test_every_command_that_takes_a_run_accepts_a_prefix(cli) -> None:
    cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "alpha-run-1", "--json")
    cli("pipeline", "run", "toy.portfolio", "--profile", "large", "--run-id", "alpha-run-2", "--json")
    cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "beta-run", "--json")
    assert json.loads(cli("runs", "show", "alpha-run-1", "--json").stdout)["run_id"] == "alpha-run-1"
    assert json.loads(cli("runs", "show", "bet", "--json").stdout)["run_id"] == "beta-run"

    ambiguous = cli("runs", "show", "alpha", "--json")
    assert ambiguous.exit_code == 2
    error = json.loads(ambiguous.stdout)["error"]
    assert error["type"] == "AmbiguousRunIdError"
    assert "alpha-run-1, alpha-run-2" in error["message"]

    generated = json.loads(cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--json").stdout)["run_id"]
    short = short_id(generated)
    assert json.loads(cli("runs", "resume", short, "--json").stdout)["run_id"] == generated
    rerun = json.loads(cli("stage", "run", "toy.scale", "--from-run", short[:4], "-p", "factor=3", "--json").stdout)
    assert rerun["outputs"]["backtest"] == {"total": 6.0}  # toy.sum's, carried from the source run
    assert rerun["outputs"]["params"]["toy.scale"]["factor"] == 3.0


def test_runs_list_shows_sleeve_runs_under_their_meta_run(cli) -> None:
    cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "meta-1", "--json")
    cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "single", "--json")

    collapsed = json.loads(cli("runs", "list", "--json").stdout)["runs"]
    assert [(r["run_id"], r["sleeve_runs"]) for r in collapsed] == [
        ("single", []), ("meta-1", ["meta-1.alpha", "meta-1.beta", "meta-1.gamma"]),
    ]
    human = cli("runs", "list").stdout.splitlines()
    meta_row = next(line for line in human if line.startswith("meta-1 "))
    assert meta_row.split()[:5] == ["meta-1", "toy.meta", "trio", "succeeded", "3"]
    assert not any("└" in line for line in human)
    assert "sleeve runs are listed under their meta run with --all" in human[-1]

    expanded = cli("runs", "list", "--all").stdout.splitlines()
    start = next(i for i, line in enumerate(expanded) if line.startswith("meta-1 "))
    assert [line.split()[:3] for line in expanded[start + 1: start + 4]] == [
        ["└", "alpha", "toy.portfolio"], ["└", "beta", "toy.portfolio"], ["└", "gamma", "toy.portfolio"],
    ]


def test_a_meta_stage_given_a_sleeve_run_is_told_its_meta_run(cli) -> None:
    cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "meta-2", "--json")
    result = cli("stage", "run", "toy.meta_total", "--from-run", "meta-2.beta")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "Run meta-2.beta is a sleeve of the meta run meta-2: meta-2 (e.g. --from-run meta-2)"
    )
    assert cli("stage", "run", "toy.meta_total", "--from-run", "meta-2").exit_code == 0


def test_the_suggested_sleeve_run_is_one_the_stage_takes(cli) -> None:
    cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "meta-3", "--json")
    wrong = cli("stage", "run", "toy.scale", "--from-run", "meta-3", "--json")
    suggested = json.loads(wrong.stdout)["error"]["message"].rsplit("--from-run ", 1)[1].rstrip(")")
    right = cli("stage", "run", "toy.scale", "--from-run", suggested, "--json")
    assert right.exit_code == 0, right.output
