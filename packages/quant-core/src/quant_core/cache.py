"""The stage cache: a stage whose key has a recorded output is not executed again.

key = sha256(stage id, stage version, params, canonical JSON of the input context's data), with
run ids and the audit trail left out, so a new run over the same inputs is served from here. An
entry stores only what the stage changed (the delta) and the audit events it added; a hit applies
them to the current input, so run-specific fields (run id, trail) stay the current run's.

An entry is sealed (it carries the sha256 of its own text) and names its artifacts by hash, so a
lookup checks both: a damaged entry or artifact is a miss, never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from quant_core.artifacts import ArtifactStore, write_atomic
from quant_core.context import AuditEvent
from quant_core.hashing import canonical_json, sha256_hex
from quant_core.sealed import SealBroken, seal, unseal


def cache_key(
    stage_id: str,
    stage_version: str,
    params: dict[str, Any],
    input_view_json: bytes,
    extra_inputs: dict[str, str] | None = None,
) -> str:
    head = canonical_json(
        {"stage_id": stage_id, "stage_version": stage_version, "params": params, "inputs": extra_inputs or {}}
    )
    return sha256_hex(head + b"\n" + input_view_json)


class CacheEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    stage_id: str
    stage_version: str
    delta: dict[str, JsonValue]
    audit_delta: list[AuditEvent]
    output_hash: str


def iter_artifact_refs(value: Any):
    """(sha256, size) of every artifact referenced anywhere inside JSON data."""
    if isinstance(value, dict):
        if "sha256" in value and {"size", "media_type", "uri"} <= value.keys():
            yield value["sha256"], value["size"]
            return
        items = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return
    for item in items:
        # Contexts hold long lists of symbols and numbers: only containers can hold a ref.
        if isinstance(item, dict | list):
            yield from iter_artifact_refs(item)


@dataclass(frozen=True)
class CacheLookup:
    """What the cache holds for a key: a usable entry, or none, and what was found damaged on the
    way (the entry itself or an artifact it names). Damage makes the lookup a miss: the stage
    runs again and its outputs replace the damaged files."""

    entry: CacheEntry | None
    damage: tuple[str, ...] = ()
    #: where the entry is (a file, or an object's URL in a URL store)
    path: str | None = None


class StageCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def where(self, key: str) -> str:
        """Where the entry for `key` is kept (for messages)."""
        return str(self.path_for(key))

    def _read(self, key: str) -> bytes:
        """The stored entry's bytes; FileNotFoundError when there is none."""
        return self.path_for(key).read_bytes()

    def _write(self, key: str, data: bytes) -> None:
        write_atomic(self.path_for(key), data)

    def get(self, key: str, store: ArtifactStore) -> CacheEntry | None:
        """The entry for `key`, or None when it is absent or damaged, or an artifact it names is
        missing or damaged (see `lookup` for what was found)."""
        return self.lookup(key, store).entry

    def lookup(self, key: str, store: ArtifactStore, *, checked: Collection[str] = ()) -> CacheLookup:
        """The entry for `key` with its own checksum and every artifact it names checked, except
        those in `checked` (already checked in this run: an entry repeats its input's refs)."""
        path = self.where(key)
        try:
            raw = self._read(key)
        except FileNotFoundError:
            return CacheLookup(None, path=path)
        except OSError as exc:
            return CacheLookup(None, (f"cache entry {path} cannot be read: {exc.strerror or exc}",), path)
        try:
            entry = read_entry(raw)
        except ValueError as exc:
            return CacheLookup(None, (f"cache entry {path} is damaged: {exc}",), path)
        damage = tuple(
            problem
            for sha, size in dict(iter_artifact_refs(entry.delta)).items()
            if sha not in checked and (problem := store.verify(sha, size)) is not None
        )
        return CacheLookup(None if damage else entry, damage, path)

    def put(self, key: str, entry: CacheEntry) -> None:
        self._write(key, seal(entry.model_dump_json().encode()))

    def discard(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)


def read_entry(raw: bytes) -> CacheEntry:
    """A cache entry from its file's bytes, its checksum checked (ValueError says what is wrong)."""
    try:
        return CacheEntry.model_validate_json(unseal(raw))
    except SealBroken as exc:
        raise ValueError(exc.reason) from None
    except ValidationError as exc:
        raise ValueError(f"not a cache entry ({exc.errors()[0]['msg']})") from None


def context_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Top-level fields whose JSON differs (run id and trail are handled apart)."""
    return {
        key: value
        for key, value in after.items()
        if key not in ("run_id", "audit_trail") and before.get(key) != value
    }


