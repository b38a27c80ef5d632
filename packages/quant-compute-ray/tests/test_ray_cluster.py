"""Joining a Ray cluster by address, through the `quant` command: a head node started here with
`ray start --head` (its own ports and temp dir, token authentication on) and stopped by its
process ids; `--ray-address` and `RAY_ADDRESS`; a refused token; and, with no Ray anywhere, a
local Ray started for the run and stopped after it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Generous: on a loaded 2-core machine a head node takes 20 s or more to come up.
START_TIMEOUT_S = 180.0
QUANT = str(Path(sys.executable).with_name("quant"))
RAY = str(Path(sys.executable).with_name("ray"))

TINY_SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 16, n_days = 400 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
TINY_META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_under(folder: str) -> list[int]:
    """Process ids whose command line names `folder` (every process of a Ray node started in it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # ended while we looked
                continue
            if folder in cmdline:
                found.append(int(entry.name))
    return found


@dataclass(frozen=True)
class Head:
    address: str
    port: int
    #: The token file the head authenticates with: a client must hold the same token.
    token_path: Path


@pytest.fixture(scope="module")
def ray_head() -> Iterator[Head]:
    """A one-CPU Ray head with token authentication, isolated from every other Ray on this host:
    free ports for everything that has a fixed default, its own temp dir (so its address is
    recorded there, not in /tmp/ray where a bare `ray.init()` would find it). Stopped by process
    id: the blocking `ray start` on SIGTERM, then anything left under its temp dir."""
    temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's socket paths must fit
    token_path = Path(temp_dir) / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    port = free_port()
    environ = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}
    command = [
        RAY, "start", "--head", "--block", "--port", str(port), "--num-cpus", "1",
        "--node-ip-address", "127.0.0.1", "--temp-dir", temp_dir, "--include-dashboard", "false",
        "--disable-usage-stats", "--dashboard-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()), "--ray-client-server-port", str(free_port()),
    ]
    log = open(Path(temp_dir) / "ray-start.log", "w")
    head = subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        recorded = Path(temp_dir) / "ray_current_cluster"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not recorded.exists():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start: {(Path(temp_dir) / 'ray-start.log').read_text()}")
            time.sleep(0.2)
        yield Head(f"127.0.0.1:{port}", port, token_path)
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        for pid in processes_under(temp_dir):
            os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)  # Ray's processes may still be flushing logs


def quant(home: Path, *args: str, environ: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [QUANT, "--home", str(home), *args, "--json"], capture_output=True, text=True, env=environ, timeout=600
    )


def client_environ(**settings: str) -> dict[str, str]:
    """This process's environment without Ray's settings (the session's own Ray set some), plus `settings`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") or k == "RAY_ENABLE_UV_RUN_RUNTIME_ENV"}
    return {**environ, **settings}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cluster") / "home"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "tiny_sleeve.toml").write_text(TINY_SLEEVE)
    (home / "profiles" / "tiny_meta.toml").write_text(TINY_META)
    return home


def test_a_meta_pipeline_runs_on_a_cluster_joined_by_address(ray_head, home):
    # The client is given the head's token file but no RAY_AUTH_MODE: with an explicit address
    # Ray itself would not authenticate (and fail after ~20 s); quant applies Ray's own rule for
    # clusters it finds by itself and authenticates with the token it holds.
    environ = client_environ(RAY_AUTH_TOKEN_PATH=str(ray_head.token_path))
    done = quant(
        home, "pipeline", "run", "meta.full", "--profile", "tiny_meta", "--run-id", "joined",
        "--executor", "ray", "--ray-address", ray_head.address, environ=environ,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"

    shown = quant(home, "runs", "show", "joined", environ=environ)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    engine = record["manifest"]["engine"]
    assert engine["address"].endswith(f":{ray_head.port}") and engine["started_for_run"] is False
    assert engine["ray_version"] == record["manifest"]["versions"]["ray"]
    sleeve_steps = {
        sleeve["run_id"]: [(line["stage_id"], line["status"], line["executor"]) for line in sleeve["ledger"]]
        for sleeve in record["sleeves"]
    }
    assert set(sleeve_steps) == {"joined.a", "joined.b"}
    for steps in sleeve_steps.values():
        assert len(steps) == 8 and {(status, executor) for _, status, executor in steps} == {("succeeded", "ray")}
    nodes = {line["node"] for sleeve in record["sleeves"] for line in sleeve["ledger"]} | {
        line["node"] for line in record["ledger"] if not line["stage_id"].startswith("fan_out.")
    }
    assert len(nodes) == 1 and None not in nodes  # the head is the cluster's one node


def test_ray_address_from_the_environment_and_a_stage_run(ray_head, home):
    environ = client_environ(RAY_ADDRESS=ray_head.address, RAY_AUTH_TOKEN_PATH=str(ray_head.token_path))
    done = quant(
        home, "stage", "run", "discovery.universe", "--profile", "tiny_sleeve", "--run-id", "by-env",
        "--executor", "ray", environ=environ,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((home / "runs" / "by-env" / "manifest.json").read_text())
    assert (manifest["executor"], manifest["kind"], manifest["status"]) == ("ray", "stage", "succeeded")
    assert manifest["engine"]["address"].endswith(f":{ray_head.port}")


def test_a_client_whose_token_the_head_refuses_gets_a_clear_error(ray_head, home):
    environ = client_environ(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    done = quant(
        home, "stage", "run", "discovery.universe", "--profile", "tiny_sleeve", "--run-id", "refused",
        "--executor", "ray", "--ray-address", ray_head.address, environ=environ,
    )
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "RayClusterError"
    assert f"could not connect to the Ray cluster at {ray_head.address}" in error["message"]
    assert "RAY_AUTH_MODE=token on both, with the same token" in error["message"]
    assert "(this client: RAY_AUTH_MODE=token)" in error["message"]
    assert not (home / "runs" / "refused").exists()  # nothing ran, nothing half-written


def test_with_no_ray_anywhere_a_local_one_is_started_for_the_run_and_stopped(home):
    done = quant(
        home, "stage", "run", "discovery.universe", "--profile", "tiny_sleeve", "--run-id", "own-ray",
        "--executor", "ray", environ=client_environ(),
    )
    assert done.returncode == 0, done.stderr
    engine = json.loads((home / "runs" / "own-ray" / "manifest.json").read_text())["engine"]
    assert engine["started_for_run"] is True
    host, port = engine["address"].rsplit(":", 1)
    with socket.socket() as probe:  # the run's Ray is gone with it
        assert probe.connect_ex((host, int(port))) != 0
