"""The installed `quant` console script, in a subprocess, against the real entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

QUANT = Path(sys.executable).parent / "quant"


def quant(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"QUANT_HOME": str(home)}
    return subprocess.run([str(QUANT), *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_the_console_script_is_installed() -> None:
    assert QUANT.is_file(), "run `uv sync` to install the quant console script"


def test_help_documents_the_commands_and_exit_codes(tmp_path: Path) -> None:
    result = quant("--help", home=tmp_path)
    assert result.returncode == 0
    for command in ("stage", "pipeline", "run", "runs", "profile", "data", "demo"):
        assert command in result.stdout
    assert "Exit codes" in result.stdout
    for code in ("0 success", "2 usage or validation error", "3 unknown stage", "4 a stage failed", "5 a sleeve failed"):
        assert code in " ".join(result.stdout.split())


def test_stage_list_json(tmp_path: Path) -> None:
    result = quant("stage", "list", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    stages = json.loads(result.stdout)["stages"]
    assert [s["id"] for s in stages] == sorted(s["id"] for s in stages)
    assert result.stderr == ""


def test_unknown_stage_is_exit_3_without_a_traceback(tmp_path: Path) -> None:
    result = quant("stage", "schema", "no.such_stage", home=tmp_path)
    assert result.returncode == 3
    assert result.stderr.startswith("error: unknown stage 'no.such_stage'")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unknown_run_in_quant_home_is_exit_3(tmp_path: Path) -> None:
    result = quant("runs", "show", "nothing", "--json", home=tmp_path)
    assert result.returncode == 3
    assert json.loads(result.stdout)["error"]["type"] == "RunNotFoundError"
    assert result.stderr.strip() == "error: unknown run 'nothing'"
    assert "Traceback" not in result.stderr


def test_usage_error_is_exit_2(tmp_path: Path) -> None:
    result = quant("stage", "nope", home=tmp_path)
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_usage_error_with_json_is_also_a_json_document(tmp_path: Path) -> None:
    result = quant("runs", "list", "--bogus", "--json", home=tmp_path)
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["type"], error["exit_code"]) == ("NoSuchOption", 2)


def test_quant_home_comes_from_the_environment(tmp_path: Path) -> None:
    assert json.loads(quant("runs", "list", "--json", home=tmp_path).stdout) == {"runs": [], "damaged": []}


def test_importing_the_cli_imports_no_numeric_stack() -> None:
    code = (
        "import sys, quant_cli.app; "
        "print(sorted(m for m in ('numpy', 'pandas', 'quant_stages') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
