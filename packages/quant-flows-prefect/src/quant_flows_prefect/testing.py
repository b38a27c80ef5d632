"""A throwaway Prefect server for tests and benchmarks: `prefect server start` on 127.0.0.1, a
free port and its own PREFECT_HOME, health-polled, stopped with its process group at the end.

    with local_prefect_server(tmp_path / "prefect") as server:
        os.environ.update(server.environ())     # or temporary_settings(...) in-process
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

#: `prefect server start` is healthy in 10-15 s on an idle 2-core machine; far slower when busy.
START_TIMEOUT_S = 300


@dataclass(frozen=True)
class LocalPrefectServer:
    api_url: str
    home: Path
    process: subprocess.Popen[bytes]

    def environ(self) -> dict[str, str]:
        """The environment a process needs to use this server."""
        return {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }


@contextlib.contextmanager
def local_prefect_server(home: Path, *, timeout: float = START_TIMEOUT_S) -> Iterator[LocalPrefectServer]:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environ |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = home / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = LocalPrefectServer(f"http://127.0.0.1:{port}/api", home, process)
    try:
        _wait_until_healthy(server, log, timeout)
        yield server
    finally:
        stop_process_group(process)


@contextlib.contextmanager
def talking_to(server: LocalPrefectServer) -> Iterator[LocalPrefectServer]:
    """This process's Prefect settings pointed at `server` (heartbeats and analytics off), and
    what Prefect's log and event workers still hold sent before it stops (at exit they would
    report a failed connection)."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )

    updates = {
        PREFECT_API_URL: server.api_url, PREFECT_HOME: str(server.home),
        PREFECT_SERVER_ANALYTICS_ENABLED: False, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
    }
    try:
        with temporary_settings(updates=updates):
            yield server
    finally:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process_group(process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """Stop a process started with `start_new_session=True`, and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)


def _wait_until_healthy(server: LocalPrefectServer, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.process.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.api_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy after {timeout} s: {log.read_text()[-3000:]}")
