"""DataFrames in the artifact store (Parquet, deterministic bytes): what stages exchange."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from quant_core.artifacts import ArtifactRef, ArtifactStore
from quant_core.errors import DataValidationError

from quant_stages.data.codec import PARQUET_MEDIA_TYPE, frame_from_parquet_bytes, frame_to_parquet_bytes


class TransientStore(ArtifactStore):
    """An artifact store for work that never leaves a stage (the backtest's per-window runs):
    new artifacts stay in memory, reads fall through to the real store, and decoded artifacts
    (frames, candidate lists) are kept, so what one inner stage wrote or read is not decoded
    again by the next."""

    def __init__(self, backing: ArtifactStore) -> None:
        # Reads go to the backing store itself, whatever it is (a local folder, an object store).
        super().__init__(backing.root)
        self._backing = backing
        self._bytes: dict[str, bytes] = {}
        self._decoded: dict[tuple[str, str], Any] = {}

    def decoded(self, ref: ArtifactRef, kind: str, decode: Callable[[bytes], Any]) -> Any:
        """`decode(bytes)` of the artifact, computed once per (kind, artifact)."""
        key = (kind, ref.sha256)
        if key not in self._decoded:
            self._decoded[key] = decode(self.get(ref))
        return self._decoded[key]

    def remember(self, ref: ArtifactRef, kind: str, value: Any) -> None:
        self._decoded.setdefault((kind, ref.sha256), value)

    def __reduce__(self):
        raise TypeError("a TransientStore lives inside one stage execution and is not sent anywhere")

    def put(self, data: bytes, media_type: str) -> ArtifactRef:
        ref = ArtifactRef.for_bytes(data, media_type)
        self._bytes.setdefault(ref.sha256, data)
        return ref

    def has(self, sha256: str) -> bool:
        return sha256 in self._bytes or self._backing.has(sha256)

    def get(self, ref: ArtifactRef) -> bytes:
        held = self._bytes.get(ref.sha256)
        return held if held is not None else self._backing.get(ref)


def put_frame(store: ArtifactStore, frame: pd.DataFrame) -> ArtifactRef:
    ref = store.put(frame_to_parquet_bytes(frame), PARQUET_MEDIA_TYPE)
    if isinstance(store, TransientStore):
        store.remember(ref, "frame", frame)
    return ref


def get_frame(
    store: ArtifactStore, ref: ArtifactRef | None, *, what: str = "table", columns: Sequence[str] | None = None
) -> pd.DataFrame:
    if ref is None:
        raise DataValidationError(
            f"the context holds no {what}: run the stage that produces it first", rule="missing-input"
        )
    if ref.media_type != PARQUET_MEDIA_TYPE:
        raise DataValidationError(
            f"{what} artifact {ref.sha256[:12]} is {ref.media_type}, expected {PARQUET_MEDIA_TYPE}",
            rule="media-type",
        )
    if isinstance(store, TransientStore):
        held = store.decoded(ref, "frame", frame_from_parquet_bytes)
        return held if columns is None else held.loc[:, list(columns)]
    return frame_from_parquet_bytes(store.get(ref), columns)


def put_series(store: ArtifactStore, series: pd.Series, name: str) -> ArtifactRef:
    return put_frame(store, series.rename(name).to_frame())


def get_series(store: ArtifactStore, ref: ArtifactRef | None, *, what: str = "series") -> pd.Series:
    frame = get_frame(store, ref, what=what)
    return frame.iloc[:, 0]
