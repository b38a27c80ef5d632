"""Following a run's ledgers: `LedgerFollower` and the `RunProgress` display."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from quant_core.records import LedgerEntry, RunManifest, RunRecord
from rich.console import Console

from quant_cli.progress import LedgerEvent, LedgerFollower, RunProgress, describe_event

STAMP = "2026-01-02T03:04:05.000000+00:00"


def entry(run_id: str, step: int, stage_id: str, *, started_at: str = STAMP, duration_s: float = 0.5, **fields) -> LedgerEntry:
    return LedgerEntry(
        run_id=run_id, step=step, stage_id=stage_id, status=fields.pop("status", "succeeded"),
        started_at=started_at, duration_s=duration_s, input_hash="0" * 64, **fields,
    )


def open_run(runs: Path, run_id: str, parent: str | None = None) -> RunRecord:
    record = RunRecord(runs, run_id)
    record.write_manifest(
        RunManifest(run_id=run_id, kind="pipeline", target="toy.portfolio", parent_run_id=parent,
                    executor="local", created_at=STAMP, started_at=STAMP)
    )
    return record


def test_follower_reads_only_lines_appended_after_it_started(tmp_path: Path) -> None:
    record = open_run(tmp_path, "r1")
    record.append_ledger(entry("r1", 1, "toy.seed"))  # an earlier invocation
    follower = LedgerFollower(tmp_path, "r1")
    assert follower.poll() == []
    record.append_ledger(entry("r1", 2, "toy.scale"))
    assert [(e.sleeve, e.entry.stage_id) for e in follower.poll()] == [(None, "toy.scale")]
    assert follower.poll() == []


def test_follower_waits_for_a_whole_line(tmp_path: Path) -> None:
    open_run(tmp_path, "r1")
    follower = LedgerFollower(tmp_path, "r1")
    line = entry("r1", 1, "toy.seed").model_dump_json().encode()
    ledger = tmp_path / "r1" / "ledger.jsonl"
    ledger.write_bytes(line[:20])
    assert follower.poll() == []
    ledger.write_bytes(line + b"\n")
    assert [e.entry.stage_id for e in follower.poll()] == ["toy.seed"]


def test_follower_includes_sleeves_of_this_run_only(tmp_path: Path) -> None:
    follower = LedgerFollower(tmp_path, "meta")
    open_run(tmp_path, "meta").append_ledger(entry("meta", 1, "fan_out.toy.portfolio"))
    open_run(tmp_path, "meta.alpha", parent="meta").append_ledger(entry("meta.alpha", 1, "toy.seed"))
    open_run(tmp_path, "meta.other", parent=None).append_ledger(entry("meta.other", 1, "toy.seed"))
    open_run(tmp_path, "metal", parent=None).append_ledger(entry("metal", 1, "toy.seed"))
    events = follower.poll()
    assert sorted((e.sleeve or "", e.entry.run_id) for e in events) == [("", "meta"), ("alpha", "meta.alpha")]


def test_follower_ignores_a_sleeve_folder_until_its_manifest_exists(tmp_path: Path) -> None:
    follower = LedgerFollower(tmp_path, "meta")
    (tmp_path / "meta.beta").mkdir(parents=True)
    RunRecord(tmp_path, "meta.beta").append_ledger(entry("meta.beta", 1, "toy.seed"))
    assert follower.poll() == []
    open_run(tmp_path, "meta.beta", parent="meta")
    assert [(e.sleeve, e.entry.stage_id) for e in follower.poll()] == [("beta", "toy.seed")]


def test_describe_event_marks_done_cached_and_failed() -> None:
    done = describe_event(LedgerEvent(None, entry("r", 1, "toy.seed", duration_s=1.25))).plain
    cached = describe_event(LedgerEvent("alpha", entry("r", 1, "toy.seed", cache_hit=True))).plain
    failed = describe_event(
        LedgerEvent(None, entry("r", 2, "toy.scale", status="failed", attempt=2, error="RuntimeError: no"))
    ).plain
    assert done.split() == ["✓", "toy.seed", "done", "1.25s"]
    assert cached.split() == ["↺", "alpha", "›", "toy.seed", "cached", "0.50s"]
    assert failed.split() == ["✗", "toy.scale", "failed", "0.50s", "attempt", "2:", "RuntimeError:", "no"]


def test_progress_prints_lines_in_the_order_attempts_finished(tmp_path: Path) -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=120)
    follower = LedgerFollower(tmp_path, "meta")
    with RunProgress(console, follower, title="pipeline toy.meta", total=2, interval_s=3600) as progress:
        # The fan-out line starts first but is written last; the sleeve's stage ended before it.
        open_run(tmp_path, "meta").append_ledger(
            entry("meta", 1, "fan_out.toy.portfolio", started_at="2026-01-02T03:04:05.000000+00:00", duration_s=2.0)
        )
        open_run(tmp_path, "meta.alpha", parent="meta").append_ledger(
            entry("meta.alpha", 1, "toy.seed", started_at="2026-01-02T03:04:05.500000+00:00", duration_s=0.5)
        )
    lines = [line.split() for line in stream.getvalue().splitlines()]
    assert [line[1:4] if line[2] == "›" else line[1:2] for line in lines] == [
        ["alpha", "›", "toy.seed"], ["fan_out.toy.portfolio"],
    ]
    assert [e.entry.stage_id for e in progress.events] == ["toy.seed", "fan_out.toy.portfolio"]


def test_progress_on_a_terminal_draws_a_bar_and_clears_it(tmp_path: Path) -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    open_run(tmp_path, "r1")
    with RunProgress(console, LedgerFollower(tmp_path, "r1"), title="pipeline toy.portfolio", total=1, interval_s=0.01):
        RunRecord(tmp_path, "r1").append_ledger(entry("r1", 1, "toy.seed"))
    assert "toy.seed" in stream.getvalue()
    assert "done" in stream.getvalue()


def test_a_broken_ledger_stops_the_display_and_says_so(tmp_path: Path) -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=120)
    open_run(tmp_path, "r1")
    with RunProgress(console, LedgerFollower(tmp_path, "r1"), title="t", interval_s=0.01) as progress:
        (tmp_path / "r1" / "ledger.jsonl").write_bytes(b"{not json}\n")
        for _ in range(1000):  # the poller thread reads the line within a few ticks
            if progress.failure is not None:
                break
            threading.Event().wait(0.01)
    assert "progress display stopped: ValidationError" in stream.getvalue()
