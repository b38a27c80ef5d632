"""Live progress of a run, read from its record.

Executors run synchronously and may run stages in other processes (Ray, Prefect, DBOS), so the
CLI does not ask them for events: a background thread follows the run's ledger files (the run's
own and its sleeves') and shows each stage attempt as it lands. Progress goes to stderr.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from quant_core.pipeline import is_fan_out_step
from quant_core.executors.fanout import sleeve_name
from quant_core.journal import end_of_whole_lines
from quant_core.records import LedgerEntry, RunRecord, child_records, parse_ledger_line
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class LedgerEvent:
    """One ledger line of the followed run (`sleeve` is None) or of one of its sleeves."""

    sleeve: str | None
    entry: LedgerEntry


class LedgerFollower:
    """Reads the ledger lines a run and its sleeves append after the follower was created.

    Lines already present when it starts (an earlier invocation of a resumed run) are skipped, and
    only whole lines are read, so a line being appended is picked up on the next poll.
    """

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self._offsets: dict[Path, int] = {}
        self._sleeves: dict[Path, str] = {}
        self._foreign: set[Path] = set()
        for path in [RunRecord(self.runs_dir, run_id).ledger_path, *self._candidate_ledgers()]:
            if path.is_file():
                # not past a torn last line: a resumed run drops it, then appends from there
                self._offsets[path] = end_of_whole_lines(path)

    def _candidate_ledgers(self) -> list[Path]:
        return [record.ledger_path for record in child_records(self.runs_dir, self.run_id)]

    def _sleeve_name(self, ledger: Path) -> str | None:
        """The sleeve name if `ledger` belongs to a sleeve of this run (its manifest says so)."""
        if ledger in self._foreign:
            return None
        known = self._sleeves.get(ledger)
        if known is not None:
            return known
        record = RunRecord(self.runs_dir, ledger.parent.name)
        if not record.exists():
            return None
        if record.read_manifest().parent_run_id != self.run_id:
            self._foreign.add(ledger)
            return None
        name = sleeve_name(self.run_id, record.run_id)
        self._sleeves[ledger] = name
        return name

    def _read_new(self, ledger: Path) -> list[LedgerEntry]:
        if not ledger.is_file():
            return []
        offset = self._offsets.get(ledger, 0)
        with ledger.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offsets[ledger] = offset + len(complete)
        return [parse_ledger_line(line) for line in complete.splitlines() if line.strip()]

    def poll(self) -> list[LedgerEvent]:
        events = [LedgerEvent(None, e) for e in self._read_new(RunRecord(self.runs_dir, self.run_id).ledger_path)]
        for ledger in self._candidate_ledgers():
            sleeve = self._sleeve_name(ledger)
            if sleeve is not None:
                events.extend(LedgerEvent(sleeve, e) for e in self._read_new(ledger))
        return events


def is_stage_event(event: LedgerEvent) -> bool:
    """A stage attempt (a fan-out's own line only sums up its sleeves)."""
    return not is_fan_out_step(event.entry.stage_id)


def finished_at(event: LedgerEvent) -> datetime:
    """When the attempt ended: a fan-out's line is written after its sleeves' lines but started
    before them, so lines read in one poll are shown in the order they finished."""
    return datetime.fromisoformat(event.entry.started_at) + timedelta(seconds=event.entry.duration_s)


def describe_event(event: LedgerEvent) -> Text:
    entry = event.entry
    name = f"{event.sleeve} › {entry.stage_id}" if event.sleeve else entry.stage_id
    detail = ""
    if entry.status == "failed":
        mark, style, outcome = "✗", "red", "failed"
        detail = f"  attempt {entry.attempt}: {entry.error}"
    elif entry.cache_hit:
        mark, style, outcome = "↺", "cyan", "cached"
    elif entry.repaired:
        mark, style, outcome = "✓", "yellow", "redone"
        detail = f"  damaged cache: {'; '.join(entry.repaired)}"
    else:
        mark, style, outcome = "✓", "green", "done"
    text = Text(f"  {mark} ", style=style)
    text.append(f"{name:<40} ", style="bold")
    text.append(f"{outcome:<7}", style=style)
    text.append(f"{entry.duration_s:7.2f}s", style="dim")
    text.append(detail, style=style)
    return text


class RunProgress:
    """A Rich progress display on `console`, fed by a `LedgerFollower` polled from a thread."""

    def __init__(
        self,
        console: Console,
        follower: LedgerFollower,
        *,
        title: str,
        total: int | None = None,
        interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.console = console
        self.follower = follower
        self.interval_s = interval_s
        self.events: list[LedgerEvent] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"quant-progress-{follower.run_id}", daemon=True)
        # On a terminal: a live bar with each finished stage printed above it. Elsewhere (a log,
        # a pipe): the finished stages only, one line each, with no cursor tricks.
        self._progress: Progress | None = None
        if console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._progress.add_task(title, total=total)
        self.failure: BaseException | None = None

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.start()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        if self.failure is None:
            self._poll_safely()  # the lines written after the last tick
        if self._progress is not None:
            self._progress.stop()
        if self.failure is not None:
            self.console.print(
                Text(f"progress display stopped: {type(self.failure).__name__}: {self.failure}", style="yellow")
            )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s) and self._poll_safely():
            pass

    def _poll_safely(self) -> bool:
        """Poll once; a failure (a damaged ledger line) is kept and reported on exit: the display
        stops, the run and the command's result go on."""
        try:
            self._poll_once()
        except Exception as error:
            self.failure = error
            return False
        return True

    def _poll_once(self) -> None:
        with self._lock:
            for event in sorted(self.follower.poll(), key=finished_at):
                self.events.append(event)
                self.console.print(describe_event(event), soft_wrap=True)
                if self._progress is not None and is_stage_event(event) and event.entry.status == "succeeded":
                    self._progress.advance(self._task)
