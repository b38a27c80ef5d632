"""The file operations under a run record: whole-line appends, crash repair, durability, the lock.

- A line is appended with one `write` on an `O_APPEND` descriptor: whole or, when the disk fills
  in the middle of it, cut back out at once, so no later line is glued to half of it.
- A line cut short by a crash (the process died in its write) is found by readers (no newline
  after it) and dropped by the next writer of the run (`drop_torn_tail`).
- A run's lock is an `flock` on `runs/<id>/lock`: the kernel releases it when its process ends,
  however it ends, so "is the lock held?" tells a running run from one whose process died,
  without trusting a pid that may have been reused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from quant_core.errors import RunLockedError, StoreWriteError
from quant_core.sealed import SealBroken, load_sealed, seal, unseal

LOCK_FILE_NAME = "lock"
FILE_MODE = 0o644
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_TAIL_BLOCK = 1 << 16
# A lock probe (`run_lock_held`, from a listing) holds the lock for microseconds: a start that
# meets one tries again for this long before it calls the run busy.
_LOCK_ATTEMPTS = 10
_LOCK_RETRY_S = 0.02


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _open_creating(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags, FILE_MODE)
    except FileNotFoundError:  # the run's folder does not exist yet
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, FILE_MODE)


def append_line(path: Path, line: bytes) -> None:
    """Append `line` and a newline in one write. A refused or short write (disk full) raises a
    `StoreWriteError` naming `path`, with the part that was written removed again."""
    data = line + b"\n"
    try:
        fd = _open_creating(path, _APPEND_FLAGS)
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc
    try:
        written = os.write(fd, data)
        if written != len(data):
            # Only the lock holder appends to a run's files, so the tail is this write's part.
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (the line was cut short and removed)")
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc
    finally:
        os.close(fd)


def drop_torn_tail(path: Path) -> bytes:
    """Repair the end of a JSONL file after a crash: a last line without its newline is dropped
    (half a line is not a record) or, if it is whole after all, given its newline. Returns what
    was dropped."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return b""
        start = _last_line_start(fd, size)
        tail = os.pread(fd, size - start, start)
        if _is_whole_line(tail):
            os.pwrite(fd, b"\n", size)
            return b""
        os.ftruncate(fd, start)
        return tail
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc
    finally:
        os.close(fd)


def end_of_whole_lines(path: Path) -> int:
    """The size of `path` without a torn last line (what a run's next writer keeps of it)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        return _last_line_start(fd, size)
    finally:
        os.close(fd)


def _last_line_start(fd: int, size: int) -> int:
    """Offset just after the last newline of the file (0 if it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        found = block.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _is_whole_line(tail: bytes) -> bool:
    try:
        json.loads(unseal(tail, required=False))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def fsync_file(path: Path) -> None:
    """Flush a file's data to the disk (nothing to do if it does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc
    finally:
        os.close(fd)


def this_host() -> str:
    return socket.gethostname()


@contextlib.contextmanager
def hold_run_lock(path: Path, run_id: str) -> Iterator[dict[str, Any]]:
    """Hold the lock at `path` for the `with` block; yields the owner written into it (host,
    pid, since). Held by another process: `RunLockedError`, naming that process."""
    try:
        fd = _open_creating(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc
    try:
        _acquire(fd, path, run_id)
        owner = {"host": this_host(), "pid": os.getpid(), "since": utc_now_iso()}
        data = seal(json.dumps(owner).encode())
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError as exc:
            raise StoreWriteError(str(path), exc) from exc
        yield owner
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path, run_id: str) -> None:
    for attempt in range(_LOCK_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt + 1 < _LOCK_ATTEMPTS:
                time.sleep(_LOCK_RETRY_S)
    owner = read_lock_owner(path)
    who = (
        f"pid {owner.get('pid')} on host {owner.get('host')}, since {owner.get('since')}"
        if owner
        else f"its owner is not recorded in {path}"
    )
    raise RunLockedError(
        f"run {run_id!r} is already running ({who}): wait for it to finish, or choose another run id",
        param="run_id", value=run_id, rule="in-use",
    )


def run_lock_held(path: Path) -> bool:
    """Whether a live process holds the lock at `path` (False when there is no lock file)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_lock_owner(path: Path) -> dict[str, Any] | None:
    """Who wrote the lock file last (None if it is missing or damaged)."""
    try:
        return load_sealed(path.read_bytes())
    except (OSError, SealBroken):
        return None
