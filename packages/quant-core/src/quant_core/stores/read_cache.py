"""A machine's read-through cache of remote artifacts: bounded, content-addressed, never stale.

An artifact's name is its content, so a copy kept here can never be out of date: it is either the
right bytes or damaged, and every read checks its hash (a damaged copy is dropped and read again
from the store). The folder is bounded: past `max_bytes`, the least recently read copies go until
the folder is back under 80% of the bound. Several processes of one machine may share the folder:
copies are published by atomic rename and eviction tolerates another process removing a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from quant_core.artifacts import ArtifactRef, ArtifactStore
from quant_core.errors import ArtifactCorruptedError, ArtifactNotFoundError

#: After an eviction the folder holds at most this share of its bound (so that every put past the
#: bound does not scan the folder again).
LOW_WATER_MARK = 0.8


class ReadCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.store = ArtifactStore(root)
        self.max_bytes = max_bytes
        self._used: int | None = None  # bytes in the folder, counted on first put

    @property
    def root(self) -> Path:
        return self.store.root

    def get(self, ref: ArtifactRef) -> bytes | None:
        """The kept copy of `ref`, or None (absent, or damaged and now dropped)."""
        if self.max_bytes == 0:
            return None
        try:
            data = self.store.get(ref)
        except ArtifactNotFoundError:
            return None
        except ArtifactCorruptedError:
            self.store.path_for(ref.sha256).unlink(missing_ok=True)
            return None
        _touch(self.store.path_for(ref.sha256))
        return data

    def keep(self, ref: ArtifactRef, data: bytes) -> None:
        """Keep a copy of bytes already checked against `ref` (too large for the bound: skipped)."""
        if ref.size > self.max_bytes or self.store.has(ref.sha256):
            return
        self.store.put(data, ref.media_type)
        if self._used is None:
            self._used = self.size()
        else:
            self._used += ref.size
        if self._used > self.max_bytes:
            self._used = self._evict(int(self.max_bytes * LOW_WATER_MARK))

    def size(self) -> int:
        return sum(size for _, size, _ in self._files())

    def _files(self) -> list[tuple[float, int, Path]]:
        found = []
        for path in self.root.glob("??/*"):
            if path.name.startswith("."):  # a copy being written by another process
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
            found.append((stat.st_mtime, stat.st_size, path))
        return found

    def _evict(self, target: int) -> int:
        files = sorted(self._files(), key=lambda item: (item[0], item[2].name))
        used = sum(size for _, size, _ in files)
        for _, size, path in files:
            if used <= target:
                break
            path.unlink(missing_ok=True)
            used -= size
        return used


def _touch(path: Path) -> None:
    """Mark a copy as recently read (its mtime orders eviction)."""
    try:
        os.utime(path)
    except FileNotFoundError:  # evicted by another process since it was read
        pass


__all__ = ["ReadCache"]
