"""Which process holds a pending workflow, and whether it is still alive.

DBOS names the process that runs a workflow by an executor id and, on launch, recovers the
pending workflows of its own id. Its default id, "local", is the same in every process, so a
second `quant` command would take over the runs a first one is still running. quant gives each
process its own id, `quant:<host>:<pid>:<start>` (`start`: the process's start time, so a reused
pid is not mistaken for the old process), and on launch recovers the pending workflows of the
processes of this host that are gone. A process on another host is never presumed dead.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

PREFIX = "quant"


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    start: str

    @property
    def executor_id(self) -> str:
        return f"{PREFIX}:{self.host}:{self.pid}:{self.start}"

    @classmethod
    def current(cls) -> ProcessIdentity:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _start_time(pid) or "0")

    @classmethod
    def parse(cls, executor_id: str | None) -> ProcessIdentity | None:
        """The identity an executor id names, or None when it is not one of quant's."""
        parts = (executor_id or "").split(":")
        if len(parts) != 4 or parts[0] != PREFIX or not parts[2].isdigit():
            return None
        return cls(parts[1], int(parts[2]), parts[3])

    def is_gone(self) -> bool:
        """True only when this process certainly no longer runs: it was on this host and its pid
        is free or now belongs to a process started at another time."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, owned by another user
            return False
        started = _start_time(self.pid)
        return started is not None and self.start != "0" and started != self.start


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]
