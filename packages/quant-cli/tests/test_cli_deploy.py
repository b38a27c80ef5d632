"""`quant deploy prefect`: the backend is imported only when the command runs; without it the
command names the package to install (exit 3). (Serving a real deployment is tested with the
backend, in quant-flows-prefect.)"""

from __future__ import annotations

import json
import sys

import pytest


def test_deploy_without_the_prefect_backend_says_what_to_install(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "quant_flows_prefect", None)
    monkeypatch.setitem(sys.modules, "quant_flows_prefect.deploy", None)
    result = cli("deploy", "prefect", "toy.portfolio", "--profile", "small", "--name", "nightly", "--json")
    assert result.exit_code == 3
    assert "pip install quant-flows-prefect" in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 3 and error["type"] == "BackendNotInstalledError"


def test_deploy_is_listed_with_its_options(cli) -> None:
    result = cli("deploy", "prefect", "--help")
    assert result.exit_code == 0
    for option in (
        "--profile", "--name", "--cron", "--param", "--task-runner", "--ray-address", "--prefect-api-url",
        "--metrics-port", "--metrics-host",
    ):
        assert option in result.stdout
