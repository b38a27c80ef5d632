"""Content-addressed artifact store: large data lives here, contexts hold `ArtifactRef`s.

Layout: `<root>/<sha[:2]>/<sha>`. Writes are atomic (temp file in the same folder, then rename), so
a reader never sees half an artifact; putting bytes that are already stored is a no-op.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quant_core.errors import ArtifactCorruptedError, ArtifactNotFoundError
from quant_core.hashing import canonical_json, sha256_hex

JSON_MEDIA_TYPE = "application/json"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FILE_MODE = 0o644


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp makes the file private (0600); a store root may be shared with workers of
            # other processes and machines, which must be able to read it.
            if hasattr(os, "fchmod"):  # POSIX only before Python 3.13
                os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


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
        return self.path_for(ref.sha256).is_file()

    def get(self, ref: ArtifactRef) -> bytes:
        path = self.path_for(ref.sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact {ref.sha256} ({ref.media_type}) is not in the store at {self.root}"
            ) from None
        actual = sha256_hex(data)
        if actual != ref.sha256:
            raise ArtifactCorruptedError(
                f"artifact {path} is corrupted: its content hashes to {actual}, "
                f"expected {ref.sha256}"
            )
        return data

    def put_json(self, value: Any) -> ArtifactRef:
        return self.put(canonical_json(value), JSON_MEDIA_TYPE)

    def get_json(self, ref: ArtifactRef) -> Any:
        return json.loads(self.get(ref))
