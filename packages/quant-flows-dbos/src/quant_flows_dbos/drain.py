"""Stopping a DBOS process between two steps of its workflows: the drain of a stopping worker.

A quant workflow runs in one of DBOS's threads, and nothing but the end of the process stops a
Python thread. So a worker asked to stop (SIGTERM) does not destroy DBOS under its workflows (a
stage finishing after that would fail its run for nothing); it drains:

- from then on, a workflow that reaches a step boundary (before a stage attempt, a fan-out, the
  start of a run, the end of a wait) parks there for good: it starts nothing and writes nothing
  more, and stays pending in DBOS under this process's executor id;
- the worker waits, up to its grace period, until no workflow is between two boundaries (inside a
  stage, or writing the stage's ledger line and context after its checkpoint) and DBOS has
  recorded the end of every workflow that ended meanwhile;
- then the process ends (`os._exit`: parked threads never return), and the next quant process of
  the host takes its pending runs over from their last checkpoint, as after a crash. A stage that
  finished in the grace period is checkpointed and never runs again; one that did not is cut, as
  by SIGKILL, and runs again there.

A wait that does no work (a parent workflow waiting for its sleeves, a retry's backoff) is not
"between two boundaries": the drain does not wait for it, and its end is a boundary.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

#: How often a drain looks again while steps are in flight or workflows are ending.
_POLL_S = 0.1


class Drain:
    """Which workflows of this process are between two step boundaries ("busy") or are waiting
    or parked ("quiet"), and whether the process is draining (see the module)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._states: dict[str, str] = {}
        self._current = threading.local()
        self._draining = False
        #: Never set: parked threads wait on it until the process ends.
        self._never = threading.Event()

    @contextlib.contextmanager
    def running(self, workflow_id: str) -> Iterator[None]:
        """Around one workflow's execution in this thread: busy from this boundary to its end."""
        self._current.workflow_id = workflow_id
        self._become("busy")
        try:
            yield
        finally:
            with self._changed:
                self._states.pop(workflow_id, None)
                self._changed.notify_all()

    def boundary(self) -> None:
        """Between two steps: go on, or, once draining, park here until the process ends."""
        if self._draining:
            self._park()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait that does no work (sleeves to finish, a backoff): quiet meanwhile, and
        its end is a boundary."""
        self._set("quiet")
        try:
            yield
        finally:
            self._become("busy")

    def drain(self, grace_s: float, pending: Callable[[], set[str]], halt: threading.Event | None = None) -> bool:
        """Let no workflow of this process start another step, and wait up to `grace_s` seconds
        (less if `halt` is set) until none is busy and every workflow `pending()` names (those
        DBOS holds pending for this process) is quiet: the others have ended and been recorded.
        True when that happened in time: everything this process did is checkpointed."""
        deadline = time.monotonic() + grace_s
        with self._changed:
            self._draining = True
        while True:
            with self._changed:
                busy = "busy" in self._states.values()
                quiet = {workflow for workflow, state in self._states.items() if state == "quiet"}
            if not busy and pending() <= quiet:
                return True
            if time.monotonic() >= deadline or (halt is not None and halt.is_set()):
                return False
            with self._changed:
                self._changed.wait(min(max(deadline - time.monotonic(), 0), _POLL_S))

    def _become(self, state: str) -> None:
        """Busy again (at a boundary): unless draining, which parks here."""
        with self._changed:
            if not self._draining:
                self._states[self._current.workflow_id] = state
                return
        self._park()

    def _set(self, state: str) -> None:
        with self._changed:
            self._states[self._current.workflow_id] = state
            self._changed.notify_all()

    def _park(self) -> None:
        self._set("quiet")
        self._never.wait()
