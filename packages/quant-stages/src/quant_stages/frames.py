"""DataFrames in the artifact store (Parquet, deterministic bytes): what stages exchange."""

from __future__ import annotations

import pandas as pd
from quant_core.artifacts import ArtifactRef, ArtifactStore
from quant_core.errors import DataValidationError

from quant_stages.data.codec import PARQUET_MEDIA_TYPE, frame_from_parquet_bytes, frame_to_parquet_bytes


def put_frame(store: ArtifactStore, frame: pd.DataFrame) -> ArtifactRef:
    return store.put(frame_to_parquet_bytes(frame), PARQUET_MEDIA_TYPE)


def get_frame(store: ArtifactStore, ref: ArtifactRef | None, *, what: str = "table") -> pd.DataFrame:
    if ref is None:
        raise DataValidationError(
            f"the context holds no {what}: run the stage that produces it first", rule="missing-input"
        )
    if ref.media_type != PARQUET_MEDIA_TYPE:
        raise DataValidationError(
            f"{what} artifact {ref.sha256[:12]} is {ref.media_type}, expected {PARQUET_MEDIA_TYPE}",
            rule="media-type",
        )
    return frame_from_parquet_bytes(store.get(ref))


def put_series(store: ArtifactStore, series: pd.Series, name: str) -> ArtifactRef:
    return put_frame(store, series.rename(name).to_frame())


def get_series(store: ArtifactStore, ref: ArtifactRef | None, *, what: str = "series") -> pd.Series:
    frame = get_frame(store, ref, what=what)
    return frame.iloc[:, 0]
