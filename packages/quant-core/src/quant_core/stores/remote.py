"""The artifact store and the stage cache on object storage (or any file system fsspec serves).

Same methods and the same guarantees as the local `ArtifactStore` and `StageCache`:

- publication is atomic: bytes are written under a temporary key below `<location>/.tmp/`, then
  moved to their final key, so a reader never sees part of an object at its name (on object
  stores a move is a server-side copy; a crash leaves only a stray temporary object);
- putting bytes already published is a no-op, and two writers of the same artifact write the same
  bytes under the same name: content addressing makes the race harmless;
- every read is checked against its sha256, as on disk; a remote artifact read once is kept in the
  machine's bounded read-through cache (`ReadCache`), so repeated reads stay off the network.

fsspec (and s3fs for `s3://`) come from the `quant-core[store]` extra and are imported here only.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from quant_core.artifacts import JSON_MEDIA_TYPE, ArtifactRef, artifact_uri, verified, write_atomic
from quant_core.cache import StageCache
from quant_core.errors import ArtifactCorruptedError, ArtifactNotFoundError, ParamValidationError
from quant_core.hashing import canonical_json
from quant_core.stores.location import StoreLocation
from quant_core.stores.read_cache import ReadCache

TEMPORARY_FOLDER = ".tmp"


class RemoteFiles:
    """One store location's file system, with atomic publication. Pickles as its location."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self.fs, self.root = _open_filesystem(location)

    def __reduce__(self):
        return (type(self), (self.location,))

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def url(self, path: str) -> str:
        return f"{self.location.scheme}://{path}"

    def read(self, path: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none."""
        return self.fs.cat_file(path)

    def size(self, path: str) -> int | None:
        try:
            return int(self.fs.info(path)["size"])
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return self.size(path) is not None

    def publish(self, path: str, data: bytes) -> None:
        """Write `data` at `path` so that readers see either nothing or the whole object."""
        temporary = self.path(TEMPORARY_FOLDER, secrets.token_hex(16))
        self._write(temporary, data)
        try:
            self.fs.mv(temporary, path)
        except BaseException:
            self.remove(temporary)
            raise

    def _write(self, path: str, data: bytes) -> None:
        try:
            self.fs.pipe_file(path, data)
        except FileNotFoundError:  # a file system with real folders (sftp, local): make them
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data)

    def remove(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:  # never written, already moved or removed
            pass


class RemoteArtifactStore:
    """Content-addressed bytes at `<location>/artifacts/<sha[:2]>/<sha>`; the methods of
    `ArtifactStore`. Pickles as its location: a worker rebuilds it from the driver's URL."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self.files = RemoteFiles(location)
        self.root = location.join("artifacts")
        self.reads = ReadCache(location.read_cache_dir(), location.read_cache_bytes)
        # Artifacts this process published or saw in the store: a cached run's stages name the same
        # refs again and again (the artifacts map grows step by step), and a name never changes
        # content, so each is checked over the network once per process, not once per stage.
        self._present: set[str] = set()
        # Artifacts found damaged in the store by this process: the next put publishes them again.
        self._damaged: set[str] = set()

    def __repr__(self) -> str:
        return f"RemoteArtifactStore({self.root!r})"

    def __reduce__(self):
        return (type(self), (self.location,))

    def _path(self, sha256: str) -> str:
        return self.files.path("artifacts", sha256[:2], sha256)

    def url_for(self, sha256: str) -> str:
        return self.files.url(self._path(sha256))

    def put(self, data: bytes, media_type: str) -> ArtifactRef:
        ref = ArtifactRef.for_bytes(data, media_type)
        if ref.sha256 in self._damaged or ref.sha256 not in self._present:
            path = self._path(ref.sha256)
            # Damage found by a read, or an object of another size (the name is the content):
            # publish again, which repairs it.
            if ref.sha256 in self._damaged or self.files.size(path) != ref.size:
                self.files.publish(path, data)
            self._damaged.discard(ref.sha256)
            self._present.add(ref.sha256)
        self.reads.keep(ref, data)
        return ref

    def verify(self, sha256: str, size: int | None = None) -> str | None:
        """What is wrong with the stored object named `sha256` (None: it is there and whole).

        Its size is checked in the store; its content is hashed when this machine holds no copy
        already checked (a copy in the read-through cache was hashed when it was fetched, and the
        object cannot have another right content)."""
        url = self.url_for(sha256)
        stored = self.files.size(self._path(sha256))
        if stored is None:
            return f"artifact {url} is missing"
        if size is not None and stored != size:
            self._damaged.add(sha256)
            return f"artifact {url} holds {stored} bytes, expected {size}"
        ref = ArtifactRef(sha256=sha256, size=stored, media_type="application/octet-stream", uri=artifact_uri(sha256))
        if self.reads.get(ref) is not None:
            self._present.add(sha256)
            return None
        try:
            self.get(ref)
        except ArtifactCorruptedError as exc:
            return str(exc)
        except ArtifactNotFoundError:
            return f"artifact {url} is missing"
        return None

    def has(self, sha256: str) -> bool:
        if sha256 not in self._present and self.files.exists(self._path(sha256)):
            self._present.add(sha256)
        return sha256 in self._present

    def exists(self, ref: ArtifactRef) -> bool:
        return self.has(ref.sha256)

    def get(self, ref: ArtifactRef) -> bytes:
        held = self.reads.get(ref)
        if held is not None:
            return held
        path = self._path(ref.sha256)
        try:
            data = self.files.read(path)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact {ref.sha256} ({ref.media_type}) is not in the store at {self.root}"
            ) from None
        try:
            verified(data, ref, self.files.url(path))
        except ArtifactCorruptedError:
            self._damaged.add(ref.sha256)
            raise
        self._present.add(ref.sha256)
        self.reads.keep(ref, data)
        return data

    def export(self, ref: ArtifactRef, target: Path) -> Path:
        """Write the artifact's bytes (checked against its name) at `target`, atomically."""
        write_atomic(target, self.get(ref))
        return target

    def put_json(self, value: Any) -> ArtifactRef:
        return self.put(canonical_json(value), JSON_MEDIA_TYPE)

    def get_json(self, ref: ArtifactRef) -> Any:
        import json

        return json.loads(self.get(ref))


class RemoteStageCache(StageCache):
    """The stage cache at `<location>/cache/<key[:2]>/<key>.json`, entries published atomically."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self.files = RemoteFiles(location)
        self.root = location.join("cache")  # type: ignore[assignment]

    def __reduce__(self):
        return (type(self), (self.location,))

    def _entry_path(self, key: str) -> str:
        return self.files.path("cache", key[:2], f"{key}.json")

    def where(self, key: str) -> str:
        return self.files.url(self._entry_path(key))

    def _read(self, key: str) -> bytes:
        return self.files.read(self._entry_path(key))

    def _write(self, key: str, data: bytes) -> None:
        self.files.publish(self._entry_path(key), data)

    def discard(self, key: str) -> None:
        self.files.remove(self._entry_path(key))


def _open_filesystem(location: StoreLocation) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise ParamValidationError(
            f"store {location.url!r} is a URL: install quant-core[store] (fsspec, s3fs) to use it",
            param="store", value=location.url, rule="store-extra",
        ) from None
    try:
        fs, root = fsspec.core.url_to_fs(location.url, **dict(location.options))
    except ValueError as exc:  # an unknown protocol
        raise ParamValidationError(
            f"store {location.url!r}: {exc}", param="store", value=location.url, rule="protocol"
        ) from None
    except ImportError as exc:  # a known protocol whose package is missing (gcsfs, adlfs)
        raise ParamValidationError(
            f"store {location.url!r}: {exc}", param="store", value=location.url, rule="store-extra"
        ) from None
    return fs, root.rstrip("/")


__all__ = ["RemoteArtifactStore", "RemoteFiles", "RemoteStageCache"]
