"""The stage cache: a stage whose key has a recorded output is not executed again.

key = sha256(stage id, stage version, params, canonical JSON of the input context's data), with
run ids and the audit trail left out, so a new run over the same inputs is served from here. An
entry stores only what the stage changed (the delta) and the audit events it added; a hit applies
them to the current input, so run-specific fields (run id, trail) stay the current run's.
"""

from __future__ import annotations


from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from quant_core.artifacts import ArtifactStore, write_atomic
from quant_core.context import AuditEvent
from quant_core.errors import ArtifactCorruptedError
from quant_core.hashing import canonical_json, sha256_hex


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
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage_id: str
    stage_version: str
    delta: dict[str, JsonValue]
    audit_delta: list[AuditEvent]
    output_hash: str


def iter_artifact_shas(value: Any):
    """Every artifact hash referenced anywhere inside JSON data."""
    if isinstance(value, dict):
        if {"sha256", "size", "media_type", "uri"} <= value.keys():
            yield value["sha256"]
        else:
            for item in value.values():
                yield from iter_artifact_shas(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_artifact_shas(item)


class StageCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def where(self, key: str) -> str:
        """Where the entry for `key` is kept (for messages)."""
        return str(self._path(key))

    def _read(self, key: str) -> bytes:
        """The stored entry's bytes; FileNotFoundError when there is none."""
        return self._path(key).read_bytes()

    def _write(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data)

    def get(self, key: str, store: ArtifactStore) -> CacheEntry | None:
        """The entry for `key`, or None when absent or when an artifact it names is gone."""
        path = self.where(key)
        try:
            raw = self._read(key)
        except FileNotFoundError:
            return None
        try:
            entry = CacheEntry.model_validate_json(raw)
        except ValidationError as exc:
            # Entries are written atomically, so this is damage from outside: say where, and how
            # to get past it, rather than guess.
            problem = exc.errors()[0]["msg"]
            raise ArtifactCorruptedError(
                f"cache entry {path} is corrupted ({problem}); delete it, or run again with "
                f"force=True to rewrite it"
            ) from None
        for sha in iter_artifact_shas(entry.delta):
            if not store.has(sha):
                return None
        return entry

    def put(self, key: str, entry: CacheEntry) -> None:
        self._write(key, entry.model_dump_json().encode())


def context_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Top-level fields whose JSON differs (run id and trail are handled apart)."""
    return {
        key: value
        for key, value in after.items()
        if key not in ("run_id", "audit_trail") and before.get(key) != value
    }


