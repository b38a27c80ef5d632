"""The app itself: global options, where QUANT_HOME comes from, help, and unexpected errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quant_core.home import QuantHome
from typer.testing import CliRunner

from quant_cli.app import build_app


def test_no_arguments_shows_help() -> None:
    def refuse(home: QuantHome):
        raise AssertionError("the SDK must not be built for help")

    result = CliRunner().invoke(build_app(refuse), [])
    assert "Usage:" in result.output
    assert "Exit codes" in result.output


def test_global_options_are_accepted_before_or_after_the_command(cli) -> None:
    before = cli("--json", "profile", "list")
    after = cli("profile", "list", "--json")
    assert before.exit_code == after.exit_code == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)


def test_home_comes_from_quant_home_when_not_given(cli, tmp_path: Path) -> None:
    env_home = tmp_path / "from-env"
    result = cli("stage", "run", "toy.seed", "--run-id", "e1", "--json", use_home_option=False,
                 env={"QUANT_HOME": str(env_home)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["record"] == str(env_home / "runs" / "e1")


def test_home_option_wins_over_quant_home(cli, home: Path, tmp_path: Path) -> None:
    result = cli("stage", "run", "toy.seed", "--run-id", "o1", "--json", env={"QUANT_HOME": str(tmp_path / "ignored")})
    assert json.loads(result.stdout)["record"] == str(home / "runs" / "o1")
    assert not (tmp_path / "ignored").exists()


def test_home_defaults_to_dot_quant_in_the_working_directory(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("stage", "run", "toy.seed", "--run-id", "d1", "--json", use_home_option=False,
                 env={"QUANT_HOME": None})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["record"] == str(tmp_path / ".quant" / "runs" / "d1")


def test_help_does_not_build_the_sdk() -> None:
    def refuse(home: QuantHome):
        raise AssertionError("the SDK must not be built for --help")

    result = CliRunner().invoke(build_app(refuse), ["stage", "run", "--help"])
    assert result.exit_code == 0
    assert "--from-run" in result.stdout


def test_an_unexpected_error_is_exit_1_in_one_line(tmp_path: Path) -> None:
    def broken(home: QuantHome):
        raise RuntimeError("disk on fire")

    app = build_app(broken)
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "stage", "list", "--json"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: unexpected RuntimeError: disk on fire (run with --debug for the traceback)"
    assert json.loads(result.stdout) == {
        "error": {"type": "RuntimeError", "message": "unexpected RuntimeError: disk on fire", "exit_code": 1}
    }
    debug = CliRunner().invoke(app, ["--home", str(tmp_path), "--debug", "stage", "list"])
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().endswith("error: unexpected RuntimeError: disk on fire")


def test_usage_errors_are_exit_2(cli) -> None:
    assert cli("stage", "run").exit_code == 2  # missing ID
    bad = cli("pipeline", "run", "toy.portfolio", "--workers", "many", "--json")
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["error"]["exit_code"] == 2
