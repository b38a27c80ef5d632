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
