"""Content-addressed artifact store: large data lives here, contexts hold `ArtifactRef`s.

Layout: `<root>/<sha[:2]>/<sha>`. Writes are atomic (temp file in the same folder, then rename), so
a reader never sees half an artifact; putting bytes that are already stored is a no-op.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quant_core.errors import ArtifactCorruptedError, ArtifactNotFoundError
from quant_core.hashing import canonical_json, sha256_hex

JSON_MEDIA_TYPE = "application/json"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FILE_MODE = 0o644
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class ArtifactRef(BaseModel):
    """A pointer to stored bytes. Small JSON: this is what crosses Ray, Prefect and DBOS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    # The temp file sits next to the target (a rename within one file system is atomic); its
    # random name and O_EXCL keep concurrent writers of the same path apart.
    tmp_path = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp_path, _TMP_FLAGS, FILE_MODE)
    except FileNotFoundError:  # first write into this folder
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp_path, _TMP_FLAGS, FILE_MODE)
    try:
        # FILE_MODE: a store root may be shared with workers of other processes and machines.
        with open(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def verified(data: bytes, ref: ArtifactRef, where: object) -> bytes:
    """`data` if it hashes to `ref.sha256`; else `ArtifactCorruptedError` naming `where` it was
    read (a file, an object URL). Every store, local or remote, reads through this check."""
    actual = sha256_hex(data)
    if actual != ref.sha256:
        raise ArtifactCorruptedError(
            f"artifact {where} is corrupted: its content hashes to {actual}, expected {ref.sha256}"
        )
    return data


class ArtifactStore:
    """Content-addressed bytes on a (possibly shared) file system."""

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
        try:
            # Same name and same size: the bytes are already there. A different size means a
            # truncated file (a crash before the data reached the disk): write it again.
            stored_whole = path.stat().st_size == ref.size
        except FileNotFoundError:
            stored_whole = False
        if not stored_whole:
            write_atomic(path, data)
        return ref

    def exists(self, ref: ArtifactRef) -> bool:
        return self.has(ref.sha256)

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

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
