"""/metrics served by a process: a selection of the recorded runs (a sleeve with its parent), over
real HTTP, and a port that cannot be bound refused with the flag that chose it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="needs quant-core[prometheus]")

from quant_core import ProfileCatalog, QuantSDK, SleeveFailureError  # noqa: E402
from quant_core.config import QuantConfig  # noqa: E402
from quant_core.errors import ParamValidationError  # noqa: E402
from quant_core.metrics import record_registry, serve  # noqa: E402
from quant_core.testing import scrape_metrics, toy_profiles, toy_registry  # noqa: E402


def test_a_selection_counts_the_chosen_runs_and_their_sleeves(tmp_path: Path) -> None:
    sdk = QuantSDK(home=tmp_path / "home", registry=toy_registry(), profiles=ProfileCatalog([toy_profiles(("beta",))]),
                   config=QuantConfig.defaults())
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="other")
    with pytest.raises(SleeveFailureError):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="chosen")
    endpoint = serve(record_registry(sdk.home.runs_dir, lambda manifest: manifest.run_id == "chosen"), 0)
    try:
        scraped = scrape_metrics(endpoint.url)
    finally:
        endpoint.shutdown()
    runs = {(labels["status"]): value for name, labels, value in scraped if name == "quant_runs_total"}
    assert runs == {"succeeded": 2.0, "failed": 2.0}  # alpha and gamma; beta and the meta run
    seeds = [value for name, labels, value in scraped
             if name == "quant_stage_executions_total" and labels["stage_id"] == "toy.seed"]
    assert seeds == [3.0]  # one per sleeve; the run "other" is not counted
    assert [value for name, _, value in scraped if name == "quant_sleeves_failed_total"] == [1.0]


def test_a_busy_port_is_refused_naming_the_flag(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ParamValidationError, match=f"cannot serve /metrics on 127.0.0.1:{port}: .*--metrics-port PORT") as raised:
            serve(record_registry(tmp_path), port, option="--metrics-port")
    assert (raised.value.param, raised.value.value) == ("--metrics-port", port)
