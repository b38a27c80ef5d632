"""Two Ray nodes on this machine sharing nothing but the S3 store: a head, and a second node
(`ray start --address`) with its own temp dir and a custom resource the sleeves are pinned to.
Neither node has QUANT_HOME or QUANT_STORE in its environment, so a worker that looked for a
store there, or fell back to a local folder, would fail or leave files behind. The run succeeds,
the driver's record holds every sleeve's steps as run on the second node, the data is on S3.

The driver runs in a subprocess: the test session may already hold a Ray of its own."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from storekit import CREDENTIALS, free_port, write_profiles

pytest.importorskip("quant_compute_ray.executor", reason="the two-node test needs the Ray backend")

START_TIMEOUT_S = 180.0  # a loaded 2-core machine starts a Ray node in 20 s or more
RAY = str(Path(sys.executable).with_name("ray"))
SLEEVE_NODE_RESOURCE = "quant_sleeve_node"
META_PROFILE = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)
DRIVER = """
import json, sys
import ray
from quant_core import QuantSDK
from quant_core.stores import StoreLocation

home, url, options, read_cache, address, resource = sys.argv[1:7]
store = StoreLocation.parse(url, options=json.loads(options), read_cache=read_cache)
sdk = QuantSDK(home=home, store=store)
result = sdk.run_pipeline(
    "meta.full", profile="tiny_meta", run_id="two-nodes", executor="ray",
    executor_options={"ray_address": address, "sleeve_resources": {resource: 1}, "sleeve_num_cpus": 1},
)
nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
print(json.dumps({"status": result.status, "nodes": nodes}))
"""


@dataclass(frozen=True)
class Cluster:
    address: str
    token_path: Path
    temp_dirs: tuple[str, str]


def node_environ(token_path: Path) -> dict[str, str]:
    """The environment of a Ray node: no quant settings at all, Ray's token, and the AWS
    credential chain a real node would have."""
    environ = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("QUANT_", "RAY_")) or k == "RAY_ENABLE_UV_RUN_RUNTIME_ENV"
    }
    return {**environ, **CREDENTIALS, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}


def _ports() -> list[str]:
    """Free ports for the agents of one node (their defaults would clash between two nodes)."""
    return [
        "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
        "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port()),
    ]


def _processes_under(folder: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if folder in cmdline:
                found.append(int(entry.name))
    return found


def _stop(node: subprocess.Popen, temp_dir: str) -> None:
    if node.poll() is None:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    for pid in _processes_under(temp_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Cluster]:
    head_dir = tempfile.mkdtemp(prefix="rsh", dir="/tmp")  # short: Ray's socket paths must fit
    second_dir = tempfile.mkdtemp(prefix="rsw", dir="/tmp")
    token_path = Path(head_dir) / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    environ = node_environ(token_path)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    head_log = open(Path(head_dir) / "ray-start.log", "w")  # noqa: SIM115 - closed below
    head = subprocess.Popen(
        [RAY, "start", "--head", "--port", str(port), "--num-cpus", "1", "--temp-dir", head_dir,
         "--include-dashboard", "false", "--dashboard-port", str(free_port()),
         "--ray-client-server-port", str(free_port()), *common, *_ports()],
        env=environ, stdout=head_log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    second = None
    second_log = open(Path(second_dir) / "ray-start.log", "w")  # noqa: SIM115 - closed below
    try:
        _wait_for(lambda: _blocking(head_dir), head, head_dir, "head")
        second = subprocess.Popen(
            [RAY, "start", "--address", address, "--num-cpus", "2", "--temp-dir", second_dir,
             "--resources", json.dumps({SLEEVE_NODE_RESOURCE: 2}), *common, *_ports()],
            env=environ, stdout=second_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_for(lambda: _blocking(second_dir), second, second_dir, "second node")
        yield Cluster(address, token_path, (head_dir, second_dir))
    finally:
        if second is not None:
            _stop(second, second_dir)
        _stop(head, head_dir)
        head_log.close()
        second_log.close()
        shutil.rmtree(head_dir, ignore_errors=True)
        shutil.rmtree(second_dir, ignore_errors=True)


def _blocking(temp_dir: str) -> bool:
    """`ray start --block` says so once its node is up and registered."""
    return "will now block forever" in (Path(temp_dir) / "ray-start.log").read_text()


def _wait_for(ready, process: subprocess.Popen, temp_dir: str, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the Ray {what} did not start: {(Path(temp_dir) / 'ray-start.log').read_text()}")
        time.sleep(0.5)


def test_sleeves_on_a_second_node_without_quant_home_use_the_drivers_s3_store(two_nodes, s3_server, bucket, tmp_path: Path) -> None:
    home = tmp_path / "driver"
    write_profiles(home)
    (home / "profiles" / "tiny_meta.toml").write_text(META_PROFILE)
    url = f"s3://{bucket}/cluster"
    environ = {**node_environ(two_nodes.token_path)}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(home), url, json.dumps(s3_server.options), str(tmp_path / "reads"),
         two_nodes.address, SLEEVE_NODE_RESOURCE],
        capture_output=True, text=True, env=environ, timeout=900, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "succeeded"
    (second_node,) = [node for node, resources in report["nodes"].items() if SLEEVE_NODE_RESOURCE in resources]

    from quant_core import QuantSDK

    sdk = QuantSDK(home=home)
    meta = sdk.record("two-nodes")
    assert meta.read_manifest().status == "succeeded"
    for sleeve in ("two-nodes.a", "two-nodes.b"):
        ledger = sdk.record(sleeve).read_ledger()
        assert len(ledger) == 8 and {e.status for e in ledger} == {"succeeded"}
        assert {e.node for e in ledger} == {second_node}, ledger
    # The data is on S3, and nothing of the store went anywhere else: not into the driver's home,
    # not into a folder of a node (each node's temp dir holds only Ray's own files).
    listing = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="cluster/")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    assert any(k.startswith("cluster/artifacts/") for k in keys) and any(k.startswith("cluster/cache/") for k in keys)
    assert sorted(p.name for p in home.iterdir()) == ["profiles", "runs"]
    for temp_dir in two_nodes.temp_dirs:
        assert not list(Path(temp_dir).rglob(".quant")) and not list(Path(temp_dir).rglob("artifacts"))
