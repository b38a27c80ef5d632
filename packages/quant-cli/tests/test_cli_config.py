"""`quant config show`, the configured executor reaching every run command, schema errors at the
command line, and the hints for a missing package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the deployment's quant.toml."""
    folder = tmp_path / "deploy"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in ("QUANT_CONFIG", "QUANT_EXECUTOR", "QUANT_WORKERS", "QUANT_HOME", "QUANT_DBOS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return folder


def write_config(folder: Path, text: str) -> Path:
    path = folder / "quant.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_show_names_every_value_and_where_it_came_from(cli, deployment: Path) -> None:
    path = write_config(
        deployment,
        'home = "state"\n[executor]\nworkers = 2\n[executor.dbos]\ndatabase_url = "postgresql://q:pw@db/q"\n',
    )
    result = cli("config", "show", "--json", use_home_option=False, env={"QUANT_EXECUTOR": "local"})
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    settings = document["settings"]
    assert document["file"] == str(path)
    assert settings["home"] == {"value": str(deployment / "state"), "source": f"file {path}", "env": "QUANT_HOME"}
    assert settings["executor.name"] == {"value": "local", "source": "env QUANT_EXECUTOR", "env": "QUANT_EXECUTOR"}
    assert settings["executor.workers"]["value"] == 2
    assert settings["executor.dbos.database_url"]["value"] == "postgresql://q:***@db/q"
    assert settings["telemetry.tracing"] == {"value": False, "source": "default", "env": "QUANT_TRACING"}
    assert document["executor"] == {"name": "local", "source": "env QUANT_EXECUTOR", "installed": True, "options": {"workers": 2}}

    human = cli("config", "show", use_home_option=False, env={"QUANT_EXECUTOR": "local"})
    assert f"config file: {path}" in human.stdout
    assert "executor local: installed; options from the settings: workers=2" in human.stdout


def test_the_home_flag_wins_and_says_so(cli, deployment: Path, home: Path) -> None:
    write_config(deployment, 'home = "state"\n')
    document = json.loads(cli("config", "show", "--json").stdout)
    assert document["settings"]["home"]["value"] == str(home)
    assert document["settings"]["home"]["source"] == "flag --home"


def test_a_typo_is_exit_2_naming_the_key_and_the_file(cli, deployment: Path) -> None:
    path = write_config(deployment, '[executor]\nnmae = "dbos"\n')
    for command in (("config", "show"), ("pipeline", "run", "toy.portfolio", "--profile", "small")):
        result = cli(*command, "--json", use_home_option=False)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {path}: unknown key 'executor.nmae'; did you mean 'executor.name'?")
        assert json.loads(result.stdout)["error"]["type"] == "ConfigError"


def test_help_does_not_read_the_configuration(cli, deployment: Path) -> None:
    write_config(deployment, "[broken\n")
    assert cli("pipeline", "run", "--help", use_home_option=False).exit_code == 0


def test_runs_use_the_configured_executor_unless_a_flag_says_otherwise(cli, deployment: Path, home: Path) -> None:
    write_config(deployment, '[executor]\nname = "nowhere"\n')
    refused = cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--json")
    assert refused.exit_code == 3
    assert json.loads(refused.stdout)["error"]["message"].startswith("unknown executor 'nowhere'")
    ran = cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--executor", "local", "--run-id", "flagged", "--json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["run_id"] == "flagged"


def test_the_configured_workers_reach_the_local_executor(cli, deployment: Path, home: Path) -> None:
    write_config(deployment, "[executor]\nworkers = 0\n")
    refused = cli("pipeline", "run", "toy.meta", "--profile", "trio", "--json")
    assert refused.exit_code == 2
    write_config(deployment, '[executor]\nname = "local"\nworkers = 2\n')
    ran = cli("pipeline", "run", "toy.meta", "--profile", "trio", "--run-id", "pool", "--json", toy_only=True)
    assert ran.exit_code == 0, ran.output


def test_a_missing_backend_says_what_to_install(cli, deployment: Path) -> None:
    write_config(deployment, '[executor]\nname = "dbos"\n')
    shown = json.loads(cli("config", "show", "--json", use_home_option=False).stdout)
    assert shown["executor"]["installed"] is False
    assert shown["executor"]["error"].endswith("(it is provided by the package 'quant-flows-dbos': pip install quant-flows-dbos)")
    result = cli("pipeline", "run", "toy.portfolio", "--profile", "small", "--executor", "prefect")
    assert result.exit_code == 3
    assert "pip install quant-flows-prefect" in result.stderr


def test_the_demo_without_quant_stages_says_to_install_it(cli, deployment: Path) -> None:
    result = cli("demo", "--json")  # the toy registry stands for a bare quant-core
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["message"] == (
        "unknown pipeline 'meta.full' (it is provided by the package 'quant-stages': pip install quant-stages)"
    )
