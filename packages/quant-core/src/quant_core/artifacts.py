"""Content-addressed artifact store: large data lives here, contexts hold `ArtifactRef`s.

Layout: `<root>/<sha[:2]>/<sha>`. Writes are atomic (temp file in the same folder, then rename), so
a reader never sees half an artifact; putting bytes that are already stored (and whole) is a
no-op. Every read checks the bytes against the name.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quant_core.errors import ArtifactCorruptedError, ArtifactNotFoundError, StoreWriteError
from quant_core.hashing import canonical_json, sha256_hex

JSON_MEDIA_TYPE = "application/json"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FILE_MODE = 0o644
_HASH_BLOCK = 1 << 20
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class ArtifactRef(BaseModel):
    """A pointer to stored bytes. Small JSON: this is what crosses Ray, Prefect and DBOS."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    sha256: str = Field(pattern=SHA256_PATTERN)
    size: int = Field(ge=0)
    media_type: str
    uri: str

    @classmethod
    def for_bytes(cls, data: bytes, media_type: str) -> ArtifactRef:
        digest = sha256_hex(data)
        return cls(sha256=digest, size=len(data), media_type=media_type, uri=artifact_uri(digest))


def artifact_uri(sha256: str) -> str:
    """Location-independent name; any store holding the bytes can resolve it."""
    return f"quant-artifact:sha256:{sha256}"


def write_atomic(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one.

    `durable=True` also survives a power cut: the file is flushed to the disk before the rename
    and the folder after it. A refused write (disk full, read-only) is a `StoreWriteError`
    naming `path`, and leaves the old file as it was."""
    # The temp file sits next to the target (a rename within one file system is atomic); its
    # random name and O_EXCL keep concurrent writers of the same path apart.
    tmp_path = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        try:
            fd = os.open(tmp_path, _TMP_FLAGS, FILE_MODE)
        except FileNotFoundError:  # first write into this folder
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp_path, _TMP_FLAGS, FILE_MODE)
        try:
            # FILE_MODE: a store root may be shared with workers of other processes and machines.
            with open(fd, "wb") as handle:
                handle.write(data)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp_path, path)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        if durable:
            fsync_folder(path.parent)
    except OSError as exc:
        raise StoreWriteError(str(path), exc) from exc


def fsync_folder(folder: Path) -> None:
    """Make the names in `folder` (a file just created or renamed there) survive a power cut."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks (artifacts may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(data: bytes, ref: ArtifactRef, where: object) -> bytes:
    """`data` if it hashes to `ref.sha256`; else `ArtifactCorruptedError` naming `where` it was
    read (a file, an object URL). Every store, local or remote, reads through this check."""
    actual = sha256_hex(data)
    if actual != ref.sha256:
        raise ArtifactCorruptedError(str(where), f"its content hashes to {actual}, not to its name")
    return data


class ArtifactStore:
    """Content-addressed bytes on a (possibly shared) file system.

    Nothing read from it is trusted: `get` checks the bytes against their name, `verify` checks a
    stored file without reading it into memory, and `put` replaces a file whose content is not
    what its name says (a flipped byte, a crash before the data reached the disk)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    def __reduce__(self):
        return (type(self), (str(self.root),))

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, media_type: str) -> ArtifactRef:
        ref = ArtifactRef.for_bytes(data, media_type)
        path = self.path_for(ref.sha256)
        if self.verify(ref.sha256, ref.size) is not None:
            write_atomic(path, data)
        return ref

    def exists(self, ref: ArtifactRef) -> bool:
        return self.has(ref.sha256)

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def verify(self, sha256: str, size: int | None = None) -> str | None:
        """What is wrong with the stored file named `sha256` (None: it is there and whole)."""
        path = self.path_for(sha256)
        try:
            stored_size = path.stat().st_size
            if size is not None and stored_size != size:
                return f"artifact {path} holds {stored_size} bytes, expected {size}"
            actual = file_sha256(path)
        except FileNotFoundError:
            return f"artifact {path} is missing"
        except OSError as exc:
            return f"artifact {path} cannot be read: {exc.strerror or exc}"
        if actual != sha256:
            return f"artifact {path} is damaged: its content hashes to {actual}"
        return None

    def get(self, ref: ArtifactRef) -> bytes:
        path = self.path_for(ref.sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact {ref.sha256} ({ref.media_type}) is not in the store at {self.root}"
            ) from None
        return verified(data, ref, path)

    def put_json(self, value: Any) -> ArtifactRef:
        return self.put(canonical_json(value), JSON_MEDIA_TYPE)

    def get_json(self, ref: ArtifactRef) -> Any:
        return json.loads(self.get(ref))

    def export(self, ref: ArtifactRef, target: Path) -> Path:
        """Place the artifact's bytes at `target` (atomically), checked against its name first.

        A hard link where the file system allows it, so exporting the same artifact for every
        run (a report) stores it once; a copy otherwise."""
        source = self.path_for(ref.sha256)
        problem = self.verify(ref.sha256, ref.size)
        if problem is not None:
            if not source.exists():
                raise ArtifactNotFoundError(f"cannot export to {target}: {problem}")
            raise ArtifactCorruptedError(str(source), problem)
        tmp_path = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, tmp_path)
        except OSError:  # another file system, or links not allowed: copy the checked bytes
            write_atomic(target, self.get(ref))
            return target
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            tmp_path.unlink(missing_ok=True)
            raise StoreWriteError(str(target), exc) from exc
        return target
