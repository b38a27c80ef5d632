"""`quant worker dbos` stopped while it executes a run it took over, on SQLite and PostgreSQL.

The contract (README, `quant worker dbos --help`): SIGTERM starts no new stage, lets the stages in
flight finish within `--grace`, records them, and exits 0 leaving the run pending at its last
checkpoint; a stage still running after `--grace`, or a SIGKILL, is cut, as by a crash. Either way
nothing is half-written, and the next worker finishes the run: it succeeds, every stage has
exactly one ledger line, a stage the first worker finished does not run again, and the outputs
are those of an uninterrupted run.

Each worker is the real command (worker_child.py: quant_cli's app and signal handling) with the
installed stages, one of them held inside (support.holding) for as long as the test needs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from quant_core import QuantSDK
from quant_core.records import latest_attempts
from quant_core.store import verify_store

pytest.importorskip("quant_cli", reason="the worker command ships in quant-cli")

RUN = "orphan"
SLEEVES = ["a", "b"]
#: The driver dies inside this stage of sleeve b; the first worker redoes it, then is stopped
#: inside the next one (the last of the sleeve).
CUT_STAGE = "allocation.optimize"
HELD_STAGE = "allocation.backtest"
LATE_RUN = "late"
#: Launching DBOS and importing the stages, then the rest of the run, on a loaded machine.
WORKER_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def uninterrupted(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the runs give without a crash (local executor, a home of their own): the output hash
    of every stage and the final context of the meta run and of one sleeve's pipeline alone."""
    home = tmp_path_factory.mktemp("uninterrupted")
    kit.write_tiny_profiles(home)
    sdk = QuantSDK(home=home)
    meta = sdk.run_pipeline("meta.full", profile="tiny_meta", run_id=RUN)
    portfolio = sdk.run_pipeline("portfolio.full", profile="tiny_sleeve", run_id=LATE_RUN)
    return {
        "meta_hashes": kit.output_hashes(sdk, RUN, SLEEVES), "meta_context": kit.meta_context_data(meta.context),
        "portfolio_hashes": kit.output_hashes(sdk, LATE_RUN, []),
        "portfolio_context": kit.meta_context_data(portfolio.context),
    }


class Worker:
    """A running `quant worker dbos --json` and what it said."""

    def __init__(self, kit: ModuleType, process: subprocess.Popen[str], errors: Path) -> None:
        self.process = process
        self.pid = str(process.pid)
        self.errors = errors
        self.deadline = time.monotonic() + WORKER_TIMEOUT_S
        self.lines = kit.Lines(process.stdout)
        self.ready: dict[str, Any] = self.lines.document(self.deadline, process, errors)["worker"]
        assert f":{process.pid}:" in self.ready["executor_id"]

    def until(self, event: str) -> dict[str, Any]:
        """The next line announcing `event` (others skipped)."""
        while True:
            line = json.loads(self.lines.next(self.deadline, self.process, self.errors))
            if line["event"] == event:
                return line

    def finished(self, run_ids: set[str]) -> dict[str, str]:
        """Wait until each of `run_ids` finished here; their DBOS statuses."""
        statuses: dict[str, str] = {}
        while set(statuses) != run_ids:
            line = self.until("finished")
            statuses[line["run_id"]] = line["status"]
        return statuses

    def stop(self) -> dict[str, Any]:
        """SIGTERM; the worker's last line (`stopped`: drained, handed_over) once it exited 0."""
        self.process.send_signal(signal.SIGTERM)
        return self.stopped()

    def stopped(self) -> dict[str, Any]:
        """The worker's last line (`stopped`: drained, handed_over) once it exited 0."""
        tail = self.lines.rest(self.deadline, self.process)
        assert self.process.returncode == 0, self.errors.read_text()[-3000:]
        stopped = json.loads(tail[-1])
        assert stopped["event"] == "stopped"
        return stopped


@contextmanager
def worker(
    kit: ModuleType, home: Path, database_url: str, folder: Path, name: str, *, hold: str | None, grace_s: float
) -> Iterator[Worker]:
    """`quant worker dbos` on `home`, logging each start of HELD_STAGE to `folder/held.log` and
    holding it in run `hold` until `folder/release` exists; killed at the end if still running."""
    spec = {"hold": {"stage": HELD_STAGE, "run_id": hold}, "log": str(folder / "held.log"), "release": str(folder / "release")}
    command = [
        sys.executable, str(kit.WORKER_CHILD), json.dumps(spec), "--home", str(home), "--json", "worker", "dbos",
        "--dbos-database-url", database_url, "--metrics-port", "0", "--recover-every", "0.5", "--grace", str(grace_s),
    ]
    errors = folder / f"{name}.log"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        )
    try:
        yield Worker(kit, process, errors)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=WORKER_TIMEOUT_S)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.1)


def held_in(kit: ModuleType, folder: Path, run_id: str, process: Worker) -> Callable[[], bool]:
    return lambda: (run_id, HELD_STAGE, process.pid) in kit.executions(folder / "held.log")


def assert_nothing_half_written(sdk: QuantSDK, run_ids: list[str], *, torn_allowed: bool) -> None:
    """Every record, cache entry and artifact of the home reads back whole (a SIGKILL may leave a
    torn last line, which the next writer drops)."""
    report = verify_store(sdk.home)
    assert report.clean, report.to_json()
    if not torn_allowed:
        assert report.findings == [], report.to_json()
    for run_id in run_ids:
        sdk.record(run_id).read_ledger()


def assert_each_stage_succeeded_once(sdk: QuantSDK, run_ids: list[str]) -> None:
    for run_id in run_ids:
        ledger = sdk.record(run_id).read_ledger()
        assert [e.status for e in ledger] == ["succeeded"] * len(ledger), run_id
        assert len({e.stage_id for e in ledger}) == len(ledger) == len(latest_attempts(ledger)), run_id


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_worker_stopped_inside_a_stage_leaves_the_run_to_the_next_worker(
    kit: ModuleType, database_url: str, tmp_path: Path, uninterrupted: dict[str, Any], stop: str
) -> None:
    home = tmp_path / "home"
    kit.kill_a_driver_mid_sleeve(home, database_url, tmp_path, run_id=RUN, stage=CUT_STAGE)
    sdk = QuantSDK(home=home)
    runs = [RUN, *(f"{RUN}.{s}" for s in SLEEVES)]

    # A grace period longer than the test: SIGTERM lets the held stage finish once released.
    with worker(kit, home, database_url, tmp_path, "first", hold=f"{RUN}.b", grace_s=WORKER_TIMEOUT_S) as first:
        assert sorted(first.ready["recovered"]) == [RUN, f"{RUN}.b"]
        wait_for(held_in(kit, tmp_path, f"{RUN}.b", first), f"the first worker inside {HELD_STAGE}")
        if stop == "SIGKILL":
            first.process.kill()
            assert first.process.wait(timeout=WORKER_TIMEOUT_S) == -signal.SIGKILL
        else:
            first.process.send_signal(signal.SIGTERM)
            first.until("stopping")  # from now on no stage starts here
            (tmp_path / "release").touch()
            # The held stage finished and was recorded; it was sleeve b's last: the sleeve ended
            # here, and its parent, which would go on to the meta stages, is handed over.
            assert first.stopped() == {"event": "stopped", "drained": True, "handed_over": [RUN]}

    killed = stop == "SIGKILL"
    assert_nothing_half_written(sdk, runs, torn_allowed=killed)
    assert sdk.record(RUN).read_manifest().status == "interrupted"
    assert sdk.record(f"{RUN}.b").read_manifest().status == ("interrupted" if killed else "succeeded")

    with worker(kit, home, database_url, tmp_path, "second", hold=None, grace_s=WORKER_TIMEOUT_S) as second:
        left = [RUN, f"{RUN}.b"] if killed else [RUN]
        assert sorted(second.ready["recovered"]) == left
        assert second.finished(set(left)) == dict.fromkeys(left, "SUCCESS")
        assert second.stop() == {"event": "stopped", "drained": True, "handed_over": []}

    assert sdk.record(RUN).read_manifest().status == "succeeded"
    assert_nothing_half_written(sdk, runs, torn_allowed=False)
    assert_each_stage_succeeded_once(sdk, runs)
    ran_in = kit.workers(sdk, runs)
    # The cut stage was redone by the first worker and checkpointed: the second did not redo it.
    assert ran_in[(f"{RUN}.b", CUT_STAGE)] == first.pid
    # The held stage: finished by the first worker when it drained; started again by the second
    # when the first was killed inside it.
    held_starts = [pid for run_id, _, pid in kit.executions(tmp_path / "held.log") if run_id == f"{RUN}.b"]
    assert held_starts == ([first.pid, second.pid] if killed else [first.pid])
    assert ran_in[(f"{RUN}.b", HELD_STAGE)] == held_starts[-1]
    assert {stage for (run_id, stage), pid in ran_in.items() if run_id == RUN and pid == second.pid} == {
        "meta.returns", "meta.optimize", "meta.flatten", "meta.report",
    }
    assert kit.output_hashes(sdk, RUN, SLEEVES) == uninterrupted["meta_hashes"]
    assert kit.meta_context_data(sdk.last_context(RUN)) == uninterrupted["meta_context"]


def test_a_worker_takes_over_a_driver_that_dies_after_it_started_and_cuts_a_stage_longer_than_its_grace(
    kit: ModuleType, database_url: str, tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    home = tmp_path / "home"
    kit.write_tiny_profiles(home)
    sdk = QuantSDK(home=home)

    with worker(kit, home, database_url, tmp_path, "first", hold=LATE_RUN, grace_s=0.5) as first:
        assert first.ready["recovered"] == []
        kit.run_child(
            {
                "action": "run", "home": str(home), "database_url": database_url, "registry": "entry_points",
                "pipeline": "portfolio.full", "profile": "tiny_sleeve", "run_id": LATE_RUN,
                "kill": {"stage": CUT_STAGE, "run_id": LATE_RUN}, "marker": str(tmp_path / "killed-once"),
                "log": str(tmp_path / "executions.log"),
            },
            expect_killed=True,
        )
        # Taken over on a later look, not at launch.
        assert first.until("recovered") == {"event": "recovered", "run_id": LATE_RUN, "status": None}
        wait_for(held_in(kit, tmp_path, LATE_RUN, first), f"the first worker inside {HELD_STAGE}")
        # Held past its grace period: the stage is cut, and the worker still exits 0 at once.
        assert first.stop() == {"event": "stopped", "drained": False, "handed_over": [LATE_RUN]}

    assert_nothing_half_written(sdk, [LATE_RUN], torn_allowed=False)
    assert sdk.record(LATE_RUN).read_manifest().status == "interrupted"

    with worker(kit, home, database_url, tmp_path, "second", hold=None, grace_s=WORKER_TIMEOUT_S) as second:
        assert second.ready["recovered"] == [LATE_RUN]
        assert second.finished({LATE_RUN}) == {LATE_RUN: "SUCCESS"}
        assert second.stop()["handed_over"] == []

    manifest = sdk.record(LATE_RUN).read_manifest()
    assert (manifest.status, manifest.invocations) == ("succeeded", 3)
    assert_each_stage_succeeded_once(sdk, [LATE_RUN])
    ran_in = kit.workers(sdk, [LATE_RUN])
    assert (ran_in[(LATE_RUN, CUT_STAGE)], ran_in[(LATE_RUN, HELD_STAGE)]) == (first.pid, second.pid)
    assert [pid for _, _, pid in kit.executions(tmp_path / "held.log")] == [first.pid, second.pid]
    assert kit.output_hashes(sdk, LATE_RUN, []) == uninterrupted["portfolio_hashes"]
    assert kit.meta_context_data(sdk.last_context(LATE_RUN)) == uninterrupted["portfolio_context"]
