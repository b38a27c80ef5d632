"""`quant worker dbos`: a driver SIGKILLed inside a stage of `meta.full` (sleeve b's
`allocation.optimize`, real stages on a small profile) leaves its run pending; a worker started
afterwards, as a subprocess, takes the run over and finishes it from its last checkpoint; its
/metrics, scraped over HTTP, counts exactly the stage executions it ran; SIGTERM stops it cleanly.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from quant_core import QuantSDK
from quant_core.testing import scrape_metrics

pytest.importorskip("quant_cli", reason="the worker command ships in quant-cli")
pytest.importorskip("prometheus_client", reason="the worker serves /metrics")

RUN = "orphan"
SLEEVES = ["a", "b"]
CUT_STAGE = "allocation.optimize"
#: What the worker runs: the cut stage and the rest of sleeve b, then the meta stages.
WORKER_STAGES = ["allocation.optimize", "allocation.backtest", "meta.returns", "meta.optimize", "meta.flatten", "meta.report"]
#: Launching DBOS and importing the stages, then the rest of the run, on a loaded machine.
WORKER_TIMEOUT_S = 600


def test_a_worker_finishes_the_run_of_a_driver_that_died(kit, database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    kit.kill_a_driver_mid_sleeve(home, database_url, tmp_path, run_id=RUN, stage=CUT_STAGE)
    sdk = QuantSDK(home=home)
    assert sdk.record(RUN).read_manifest().status == "interrupted"

    command = [
        str(Path(sys.executable).parent / "quant"), "--home", str(home), "worker", "dbos",
        "--dbos-database-url", database_url, "--metrics-port", "0", "--recover-every", "0.5", "--json",
    ]
    environ = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    worker_log = tmp_path / "worker.log"
    with worker_log.open("w") as errors:
        worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=environ)
    try:
        lines = kit.Lines(worker.stdout)
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        ready = lines.document(deadline, worker, worker_log)["worker"]
        assert ready["executor_id"].startswith("quant:") and f":{worker.pid}:" in ready["executor_id"]
        # The run and the sleeve that was cut; sleeve a had finished.
        assert sorted(ready["recovered"]) == [RUN, f"{RUN}.b"]
        finished: dict[str, str] = {}
        while set(finished) != {RUN, f"{RUN}.b"}:
            event = json.loads(lines.next(deadline, worker, worker_log))
            if event["event"] == "finished":
                finished[event["run_id"]] = event["status"]
        assert finished == {f"{RUN}.b": "SUCCESS", RUN: "SUCCESS"}

        scraped = scrape_metrics(ready["metrics_url"])
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=WORKER_TIMEOUT_S) == 0, worker_log.read_text()[-3000:]

    manifest = sdk.record(RUN).read_manifest()
    assert (manifest.status, manifest.invocations) == ("succeeded", 2)
    # The ledgers: one execution per stage; the cut stage and everything after it ran in the worker.
    ran_in = kit.workers(sdk, [RUN, *(f"{RUN}.{s}" for s in SLEEVES)])
    in_worker = Counter(stage for (_, stage), pid in ran_in.items() if pid == str(worker.pid))
    assert in_worker == Counter(WORKER_STAGES)
    # /metrics counts what the worker executed, nothing the dead driver did.
    executions = {
        labels["stage_id"]: value for name, labels, value in scraped
        if name == "quant_stage_executions_total" and labels["executor"] == "dbos" and labels["status"] == "succeeded"
    }
    assert executions == {stage: 1.0 for stage in WORKER_STAGES}
    assert not [s for s in scraped if s[0] == "quant_stage_executions_total" and s[1]["stage_id"] not in WORKER_STAGES]
    runs = {(labels["kind"], labels["status"]): value for name, labels, value in scraped if name == "quant_runs_total"}
    assert runs == {("pipeline", "succeeded"): 2.0}  # the meta run and sleeve b


def test_a_worker_refuses_a_database_url_it_cannot_use(tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "quant"), "--home", str(tmp_path / "home"), "worker", "dbos",
        "--dbos-database-url", "mysql://db/quant", "--metrics-port", "0", "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "is not a DBOS system database URL" in json.loads(done.stdout)["error"]["message"]

