"""What the store tests and the store benchmark share: a real S3-compatible server (moto's
standalone server, in its own process, on 127.0.0.1 and a free port, stopped by its process id)
and a portfolio profile small enough for `portfolio.full` to run in seconds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: moto accepts any credentials; s3fs and boto3 need some to sign requests.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "quant-test",
    "AWS_SECRET_ACCESS_KEY": "quant-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START_TIMEOUT_S = 120.0  # a loaded 2-core machine imports moto's server slowly


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    @property
    def options(self) -> dict[str, str]:
        """fsspec storage options that reach this server (what the driver hands to workers)."""
        return {"endpoint_url": self.endpoint}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_s3_server(log_dir: Path) -> S3Server:
    port = free_port()
    log = open(log_dir / "moto.log", "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS},
    )
    server = S3Server(endpoint=f"http://127.0.0.1:{port}", process=process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}: see {log_dir / 'moto.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"moto server did not listen on port {port} within {START_TIMEOUT_S} s") from None
            time.sleep(0.2)
    return server


SLEEVE_PROFILE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 24, n_days = 500 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)


def write_profiles(home: Path) -> None:
    """`tiny_sleeve`, a 24-asset portfolio profile, in `home`'s profiles folder."""
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "tiny_sleeve.toml").write_text(SLEEVE_PROFILE)
