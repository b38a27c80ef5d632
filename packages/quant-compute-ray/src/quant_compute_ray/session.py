"""One run's hold on Ray: the Runtime it put in the object store, the tasks and actors it started,
and what an interrupt does to them.

Ctrl-C (SIGINT) or SIGTERM reach the driver's main thread, which is almost always waiting on Ray.
The wait turns the signal into `RunInterrupted` after cancelling every task and killing every
actor the run started, so nothing keeps computing for a run that is over; the sleeve threads see
their actors die, notice the interrupt, and end their runs as interrupted too. The records are
marked failed on the way out and `quant runs resume` continues the run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import ray
from quant_core.artifacts import ArtifactStore

from quant_compute_ray.errors import RunInterrupted
from quant_compute_ray.worker import RuntimeHandle


class RunSession:
    def __init__(self, runtime_handle: RuntimeHandle, store: ArtifactStore, engine: dict[str, Any]) -> None:
        self.runtime = runtime_handle
        #: The driver's artifact store: where large requests and outcomes travel (see `wire`).
        self.store = store
        #: What the manifests of this run record about Ray (address, version, who started it).
        self.engine = engine
        self._tasks: set[ray.ObjectRef] = set()
        self._actors: list[Any] = []
        self._lock = threading.Lock()
        self._interrupt: RunInterrupted | None = None

    # -- what the run started ---------------------------------------------------------------------

    def started_task(self, ref: ray.ObjectRef) -> None:
        with self._lock:
            self._tasks.add(ref)

    def finished_task(self, ref: ray.ObjectRef) -> None:
        with self._lock:
            self._tasks.discard(ref)

    def started_actor(self, actor: Any) -> None:
        """Track a sleeve's actor; one created after an interrupt swept the run is killed at once."""
        with self._lock:
            interrupted = self._interrupt
            if interrupted is None:
                self._actors.append(actor)
        if interrupted is not None:
            ray.kill(actor, no_restart=True)
            raise RunInterrupted(interrupted.signal_name)

    def finished_actor(self, actor: Any) -> None:
        """Release a sleeve's actor as soon as the sleeve ends, so a waiting sleeve gets its CPU."""
        with self._lock:
            if actor in self._actors:
                self._actors.remove(actor)
        ray.kill(actor, no_restart=True)

    # -- waiting ----------------------------------------------------------------------------------

    def wait(self, refs: Sequence[ray.ObjectRef], timeout: float | None) -> list[ray.ObjectRef]:
        """Those of `refs` that have finished, once at least one has (none if `timeout` seconds
        pass first). All the finished ones at once: with hundreds in flight, one wait per result
        would hand Ray the whole list each time."""
        with self.interruptible():
            ready, rest = ray.wait(list(refs), num_returns=1, timeout=timeout)
            if ready and rest:
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready.extend(more)
        return ready

    def sleep(self, seconds: float) -> None:
        with self.interruptible():
            time.sleep(max(seconds, 0.0))

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Turn Ctrl-C or SIGTERM (in the main thread) into `RunInterrupted`, cancelling the run first."""
        try:
            yield
        except KeyboardInterrupt as signalled:
            raise self.interrupt(signalled) from None

    def interrupt(self, signalled: KeyboardInterrupt) -> RunInterrupted:
        """Cancel every task and kill every actor this run started (once); the error to raise."""
        with self._lock:
            if self._interrupt is not None:
                return self._interrupt
            self._interrupt = signalled if isinstance(signalled, RunInterrupted) else RunInterrupted("SIGINT")
            tasks, actors = list(self._tasks), list(self._actors)
            self._tasks.clear()
            self._actors.clear()
        for ref in tasks:
            ray.cancel(ref, force=True)
        for actor in actors:
            ray.kill(actor, no_restart=True)
        return self._interrupt

    @property
    def interrupted(self) -> RunInterrupted | None:
        """The interrupt, once the run was interrupted (sleeve threads check it when their actor dies)."""
        return self._interrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While a run lasts, SIGTERM raises `RunInterrupted` in the main thread (as Ctrl-C raises
    KeyboardInterrupt), so the run is cancelled and recorded rather than cut off. Ray's own driver
    handler (exit at once) is put back afterwards. Elsewhere than the main thread: nothing to do."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        raise RunInterrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
