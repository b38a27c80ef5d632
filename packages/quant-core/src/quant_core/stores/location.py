"""Where the artifact store and the stage cache live: a local path or a URL.

A `StoreLocation` is what the driver hands to every worker (it travels inside the `Runtime`): a
URL string, the fsspec storage options that reach the store (an endpoint, a region; never
secrets, which come from each machine's own credential chain) and the folder and size of the
local read-through cache of remote artifacts. A worker builds its stores from this value and
nothing else: it never reads `QUANT_STORE` or `QUANT_HOME` from its own environment (the driver's
`quant_core.config` reads them).

    <location>/artifacts/<sha[:2]>/<sha>     content-addressed artifacts
    <location>/cache/<key[:2]>/<key>.json     stage cache entries

A plain path (or `file://`) is served by the local `ArtifactStore` and `StageCache`; any other
scheme (`s3://`, `gs://`, `az://`, `memory://`, ...) through fsspec, which is imported only then.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quant_core.errors import ParamValidationError

if TYPE_CHECKING:
    from quant_core.artifacts import ArtifactStore
    from quant_core.cache import StageCache

#: Default bound of the local read-through cache of remote artifacts, per machine.
DEFAULT_READ_CACHE_BYTES = 2 * 1024**3
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_OPTION_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class StoreLocation:
    """A store's place: `url` is an absolute local path or a URL with a scheme (no trailing '/')."""

    url: str
    #: fsspec storage options, e.g. (("endpoint_url", "http://10.0.0.5:9000"),): sorted pairs, so
    #: the location is hashable and compares by value.
    options: tuple[tuple[str, Any], ...] = ()
    #: Folder of the read-through cache of remote artifacts on each machine (None: the machine's
    #: own `~/.cache/quant/store`), and its bound in bytes.
    read_cache: str | None = None
    read_cache_bytes: int = DEFAULT_READ_CACHE_BYTES
    #: Also publish run records under `<url>/runs` (the driver's own stay in `$QUANT_HOME/runs`).
    runs: bool = False

    @classmethod
    def parse(
        cls,
        value: str | os.PathLike[str],
        *,
        options: Mapping[str, Any] | None = None,
        read_cache: str | os.PathLike[str] | None = None,
        read_cache_bytes: int = DEFAULT_READ_CACHE_BYTES,
        runs: bool = False,
    ) -> StoreLocation:
        """A location from what a user wrote (`--store`, `QUANT_STORE`, `store=`). Relative paths
        are made absolute, so workers started elsewhere find the same folder."""
        text = os.fspath(value).strip()
        if not text:
            raise _store_error(value, "the store location is empty: give a path or a URL such as s3://bucket/prefix", "non-empty")
        match = _SCHEME.match(text)
        if match is None or match.group(1).lower() == "file":
            path = text[len("file://"):] if match else text
            url = str(Path(path).expanduser().absolute())
        else:
            rest = text[match.end():].rstrip("/")
            if not rest:
                raise _store_error(value, "the store URL names no bucket or folder", "bucket")
            url = f"{match.group(1).lower()}://{rest}"
        if read_cache_bytes < 0:
            raise ParamValidationError(
                f"store read cache: read_cache_bytes={read_cache_bytes} must be at least 0",
                param="read_cache_bytes", value=read_cache_bytes, rule="minimum",
            )
        return cls(
            url=url,
            options=_checked_options(options or {}),
            read_cache=str(Path(read_cache).expanduser().absolute()) if read_cache is not None else None,
            read_cache_bytes=read_cache_bytes,
            runs=runs,
        )

    def to_json(self) -> dict[str, Any]:
        """The location as JSON (for an engine that sends its inputs as JSON, e.g. a DBOS workflow)."""
        return {
            "url": self.url, "options": dict(self.options), "read_cache": self.read_cache,
            "read_cache_bytes": self.read_cache_bytes, "runs": self.runs,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoreLocation:
        return cls(
            url=data["url"], options=_checked_options(data.get("options") or {}), read_cache=data.get("read_cache"),
            read_cache_bytes=data.get("read_cache_bytes", DEFAULT_READ_CACHE_BYTES), runs=bool(data.get("runs", False)),
        )

    @property
    def scheme(self) -> str:
        match = _SCHEME.match(self.url)
        return match.group(1) if match else "file"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    def join(self, *parts: str) -> str:
        return "/".join((self.url, *parts)) if not self.is_local else str(Path(self.url, *parts))

    def __str__(self) -> str:
        return self.url

    def artifact_store(self) -> ArtifactStore:
        """The artifact store at this location (fsspec is imported only for a URL)."""
        if self.is_local:
            from quant_core.artifacts import ArtifactStore

            return ArtifactStore(Path(self.url) / "artifacts")
        from quant_core.stores.remote import RemoteArtifactStore

        return RemoteArtifactStore(self)

    def stage_cache(self) -> StageCache:
        if self.is_local:
            from quant_core.cache import StageCache

            return StageCache(Path(self.url) / "cache")
        from quant_core.stores.remote import RemoteStageCache

        return RemoteStageCache(self)

    def read_cache_dir(self) -> Path:
        """This machine's read-through cache folder for this store (one per store URL)."""
        from quant_core.hashing import sha256_hex

        base = Path(self.read_cache) if self.read_cache else Path.home() / ".cache" / "quant" / "store"
        return base / sha256_hex(self.url.encode())[:16]


def parse_options(text: str, *, source: str) -> dict[str, Any]:
    """fsspec storage options from a JSON object (`QUANT_STORE_OPTIONS`, `--store-options`)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParamValidationError(
            f"{source}: {text!r} is not JSON ({exc.msg}); give an object such as "
            f'{{"endpoint_url": "http://127.0.0.1:9000"}}',
            param=source, value=text, rule="json",
        ) from None
    if not isinstance(value, dict):
        raise ParamValidationError(
            f"{source}: expected a JSON object of storage options, got {type(value).__name__}",
            param=source, value=text, rule="object",
        )
    return value


def _checked_options(options: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    for key, value in options.items():
        if not isinstance(key, str) or not isinstance(value, _OPTION_TYPES):
            raise ParamValidationError(
                f"store option {key!r}: {value!r} is not a string, number, boolean or null (options "
                f"travel to every worker as JSON)",
                param="store_options", value=str(value), rule="scalar",
            )
    return tuple(sorted(options.items()))


def _store_error(value: object, message: str, rule: str) -> ParamValidationError:
    return ParamValidationError(f"store {str(value)!r}: {message}", param="store", value=str(value), rule=rule)


__all__ = [
    "DEFAULT_READ_CACHE_BYTES",
    "StoreLocation",
    "parse_options",
]
