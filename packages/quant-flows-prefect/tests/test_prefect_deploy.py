"""`quant deploy prefect` serves a deployment from a subprocess; a run triggered through the
Prefect API completes and leaves a quant run record named by its flow run, and the deployment's
/metrics, scraped over HTTP, shows that run's stage executions (and no other run of the home)."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import pytest
from quant_core import QuantSDK
from quant_core.errors import ParamValidationError
from quant_core.testing import scrape_metrics, toy_registry

pytest.importorskip("quant_cli", reason="the deploy command ships in quant-cli")
pytest.importorskip("quant_stages", reason="the deployed pipeline comes with quant-stages")

# Fixtures (conftest.py): `tiny_home(root)` (profile tiny_sleeve), `spawn` (a subprocess stopped
# with its process group at the end), `prefect_server`, `prefect_api`.

#: Serving, then a run's subprocess importing Prefect and the stages, on a loaded machine.
RUN_TIMEOUT_S = 600


def first_json_document(stream: IO[str], timeout: float) -> dict[str, Any]:
    """The JSON document a `--json` command prints first (pretty-printed over several lines)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text += lines.get(timeout=1)
        except queue.Empty:
            continue
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            continue
    raise AssertionError(f"no JSON document on stdout within {timeout} s (got {text!r})")


def test_a_served_deployment_starts_quant_runs(
    tmp_path: Path, tiny_home: Any, prefect_server: Any, prefect_api: Any, spawn: Any
) -> None:
    from prefect.client.orchestration import get_client

    home = tiny_home(tmp_path / "home").home.root
    environ = {**os.environ, **prefect_server.environ(), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    command = [
        str(Path(sys.executable).parent / "quant"), "--home", str(home), "deploy", "prefect", "selection.full",
        "--profile", "tiny_sleeve", "--name", "test-deploy", "--metrics-port", "0", "--json",
    ]
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        served = spawn(command, env=environ, stdout=subprocess.PIPE, stderr=log, text=True)
    document = first_json_document(served.stdout, RUN_TIMEOUT_S)["deployment"]
    assert document["full_name"] == "selection.full/test-deploy" and document["api_url"] == prefect_server.api_url
    deployment_id = UUID(document["deployment_id"])
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(deployment_id)
        assert deployment.parameters == {"profile": "tiny_sleeve", "params": {}}
        assert set(deployment.parameter_openapi_schema["properties"]) == {"profile", "params", "run_id"}
        assert {"quant", "pipeline:selection.full", "profile:tiny_sleeve"} <= set(deployment.tags)

        started = client.create_flow_run_from_deployment(deployment_id, parameters={"run_id": "pd-deployed"})
        deadline = time.monotonic() + RUN_TIMEOUT_S
        flow_run = client.read_flow_run(started.id)
        while not (flow_run.state and flow_run.state.is_final()):
            assert served.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"deployment run not finished: {flow_run.state}"
            time.sleep(1)
            flow_run = client.read_flow_run(started.id)
    assert flow_run.state_name == "Completed", log_path.read_text()[-3000:]
    assert flow_run.name == "pd-deployed"

    manifest = QuantSDK(home=home).record("pd-deployed").read_manifest()
    assert (manifest.status, manifest.target, manifest.profile, manifest.executor) == (
        "succeeded", "selection.full", "tiny_sleeve", "prefect",
    )
    assert manifest.engine["flow_run_id"] == str(flow_run.id)
    assert manifest.engine["deployment_id"] == str(deployment_id)
    assert len(prefect_api.task_runs(flow_run.id, 6)) == 6

    # A run of the same home that the deployment did not start is not in its figures.
    QuantSDK(home=home).run_pipeline("selection.full", profile="tiny_sleeve", run_id="pd-local")
    scraped = scrape_metrics(document["metrics_url"])
    ledger = QuantSDK(home=home).record("pd-deployed").read_ledger()
    executions = {
        labels["stage_id"]: value for name, labels, value in scraped
        if name == "quant_stage_executions_total" and labels["status"] == "succeeded"
    }
    assert executions == {entry.stage_id: 1.0 for entry in ledger} and len(executions) == 6
    assert {labels["executor"] for _, labels, _ in scraped if "executor" in labels} == {"prefect"}
    runs = {(labels["kind"], labels["status"]): value for name, labels, value in scraped if name == "quant_runs_total"}
    assert runs == {("pipeline", "succeeded"): 1.0}




def test_a_deployment_is_checked_before_it_is_served(tmp_path: Path, prefect_server: Any) -> None:
    from quant_flows_prefect.deploy import serve_pipeline

    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), versions={})
    ready: list[Any] = []
    with pytest.raises(ParamValidationError, match="--cron 'every day' is not a cron expression"):
        serve_pipeline(sdk, "toy.portfolio", name="daily", cron="every day", on_ready=ready.append)
    with pytest.raises(ParamValidationError, match="deployment name 'a/b'"):
        serve_pipeline(sdk, "toy.portfolio", name="a/b", on_ready=ready.append)
    with pytest.raises(ParamValidationError, match="factor"):
        serve_pipeline(sdk, "toy.portfolio", name="bad", params={"toy.scale.factor": "many"}, on_ready=ready.append)
    with pytest.raises(ParamValidationError, match="prefect_api_url='127.0.0.1:4200' is not a Prefect API URL"):
        serve_pipeline(sdk, "toy.portfolio", name="daily", api_url="127.0.0.1:4200", on_ready=ready.append)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ParamValidationError, match=f"cannot serve /metrics on 127.0.0.1:{port}.*--metrics-port"):
            serve_pipeline(sdk, "toy.portfolio", name="daily", metrics_port=port, on_ready=ready.append)
    assert ready == []  # nothing was registered
