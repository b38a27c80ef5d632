"""The Prefect API a deployment's configuration names (`[executor.prefect] api_url`, the
`prefect_api_url` option) is the one the flows talk to, with no PREFECT_API_URL anywhere: the SDK
alone (`QuantSDK(config=...)`) reaches the session's real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quant_core.config import QuantConfig
from quant_core.errors import ParamValidationError

# Fixtures (conftest.py): `prefect_server` (its api_url), `prefect_api` (reads flow runs back),
# `make_sdk(home, config=...)`.


def test_the_configured_api_url_needs_no_environment_variable(
    tmp_path: Path, make_sdk: Any, prefect_server: Any, prefect_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    configured = QuantConfig.defaults(**{"executor.name": "prefect", "executor.prefect.api_url": prefect_server.api_url})
    unconfigured = QuantConfig.defaults(**{"executor.name": "prefect"})
    # No API in Prefect's settings either, and no ephemeral server to fall back on.
    with temporary_settings(updates={PREFECT_SERVER_EPHEMERAL_ENABLED: False}, restore_defaults={PREFECT_API_URL}):
        assert PREFECT_API_URL.value() is None
        with pytest.raises(ParamValidationError, match="PREFECT_API_URL is not set"):
            make_sdk(tmp_path / "unconfigured", config=unconfigured).run_pipeline(
                "toy.portfolio", profile="small", run_id="pa-unconfigured"
            )
        sdk = make_sdk(tmp_path / "home", config=configured)
        result = sdk.run_pipeline("toy.portfolio", profile="small", run_id="pa-configured")
        assert PREFECT_API_URL.value() is None  # set for the run only
    assert result.status == "succeeded"
    manifest = sdk.record("pa-configured").read_manifest()
    assert (manifest.executor, manifest.engine["api_url"]) == ("prefect", prefect_server.api_url)
    assert prefect_api.flow_run("pa-configured").state_name == "Completed"


def test_an_api_url_that_is_not_a_url_is_refused_naming_the_option(tmp_path: Path, make_sdk: Any) -> None:
    sdk = make_sdk(tmp_path / "home")
    with pytest.raises(ParamValidationError, match="prefect_api_url='prefect:4200' is not a Prefect API URL"):
        sdk.executor("prefect", prefect_api_url="prefect:4200")


EPHEMERAL_SETTINGS = """
import os, sys
from prefect.server.api.server import SubprocessASGIServer
from quant_flows_prefect.api import prefect_api

with prefect_api() as api_url:
    server = SubprocessASGIServer()
    with open(f"/proc/{server.server_process.pid}/environ", "rb") as environ:
        variables = dict(item.split(b"=", 1) for item in environ.read().split(b"\\0") if b"=" in item)
    print(variables.get(b"PREFECT_SERVER_ANALYTICS_ENABLED", b"unset").decode())
server.stop()
"""


@pytest.mark.parametrize(("user_setting", "server_gets"), [(None, "False"), ("true", "True")])
def test_the_temporary_server_quant_starts_has_analytics_off_unless_the_user_set_them(
    tmp_path: Path, user_setting: str | None, server_gets: str
) -> None:
    """Left on, its telemetry heartbeat races the server's start-up writes to SQLite and prints a
    "database is locked" traceback into every run's output; a user's own choice is kept."""
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environ |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_EPHEMERAL_ENABLED": "true"}
    if user_setting is not None:
        environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = user_setting
    result = subprocess.run(
        [sys.executable, "-c", EPHEMERAL_SETTINGS], env=environ, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == server_gets
    if server_gets == "False":  # with analytics on (the user's choice) Prefect's race may print it
        assert "database is locked" not in result.stderr
