"""DataFrame <-> Parquet bytes, deterministic, for the content-addressed artifact store.

Artifacts are addressed by the sha256 of their bytes, so equal frames must encode to identical
bytes, or the cache misses and the same data is stored twice. Parquet written by
`DataFrame.to_parquet` embeds pandas' own metadata (library versions, the dtype of the column
index), which differs between frames that are equal but were built differently. This codec
instead writes:

- the data columns as Arrow converts them, with `large_string` narrowed to `string` (pandas 3
  `str` columns and object columns of text then encode alike);
- the index as a leading column `__index__` (a `RangeIndex` as three numbers in the metadata);
- one schema metadata key, `quant.frame`, holding canonical JSON (sorted keys, no spaces) with
  the index kind and name and the column-axis name; nothing that depends on the clock;
- with every writer option pinned (zstd level 3, dictionary encoding, statistics, Parquet 2.6,
  data page v1, one row group up to 1,048,576 rows), so the bytes depend only on the frame and
  on the pyarrow version (which Parquet records as `created_by`).

Decoding gives back the index (with its name, type and time zone), the column order, names and
dtypes for numpy dtypes, `str` text and categoricals. Nullable extension dtypes (`Int64`,
`boolean`) come back as their numpy counterparts; text columns come back as `str`. A
`DatetimeIndex` comes back without `freq`: it is derived, not data, and keeping it would make
equal frames (`DataFrame.equals` ignores it) encode differently.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from quant_core.errors import DataValidationError, ParamValidationError

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"

CODEC_VERSION = 1
_METADATA_KEY = b"quant.frame"
_INDEX_FIELD = "__index__"
_ROW_GROUP_SIZE = 1 << 20
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": _ROW_GROUP_SIZE,
    "store_schema": True,
    "write_page_index": False,
}
_NARROWED = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}


def _bad_frame(message: str, value: Any = None) -> ParamValidationError:
    return ParamValidationError(message, param="df", value=value, rule="parquet-frame")


def _check_label(label: Any, what: str) -> None:
    if label is not None and not isinstance(label, str):
        raise _bad_frame(f"{what} must be text or None to be stored in Parquet, got {label!r}", label)


def _index_metadata(index: pd.Index) -> dict[str, Any]:
    if isinstance(index, pd.MultiIndex):
        raise _bad_frame("a MultiIndex cannot be encoded; reset_index() first")
    _check_label(index.name, "the index name")
    if isinstance(index, pd.RangeIndex):
        return {
            "kind": "range",
            "name": index.name,
            "start": index.start,
            "stop": index.stop,
            "step": index.step,
        }
    return {"kind": "column", "name": index.name}


def frame_to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """Encode `df` as Parquet bytes; equal frames give byte-identical output (see module doc).

    Column names must be unique text; the index may be any single-level index.
    """
    if not isinstance(df, pd.DataFrame):
        raise _bad_frame(f"expected a DataFrame, got {type(df).__name__}")
    if isinstance(df.columns, pd.MultiIndex):
        raise _bad_frame("MultiIndex columns cannot be encoded")
    names = list(df.columns)
    for name in names:
        if not isinstance(name, str):
            raise _bad_frame(f"column names must be text, got {name!r}", name)
    if len(set(names)) != len(names) or _INDEX_FIELD in names:
        raise _bad_frame(f"column names must be unique and not {_INDEX_FIELD!r}", names)
    _check_label(df.columns.name, "the column-axis name")
    index_meta = _index_metadata(df.index)

    table = pa.Table.from_pandas(df, preserve_index=False)
    if index_meta["kind"] == "column":
        table = table.add_column(0, _INDEX_FIELD, pa.array(df.index))
    narrowed = pa.schema(
        [field.with_type(_NARROWED.get(field.type, field.type)) for field in table.schema]
    )
    metadata = {
        "version": CODEC_VERSION,
        "index": index_meta,
        "columns_name": df.columns.name,
        "n_rows": len(df),
    }
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
    table = table.cast(narrowed).replace_schema_metadata({_METADATA_KEY: canonical.encode()})

    sink = io.BytesIO()
    pq.write_table(table, sink, **_WRITE_OPTIONS)
    return sink.getvalue()


def frame_from_parquet_bytes(data: bytes) -> pd.DataFrame:
    """Decode bytes from `frame_to_parquet_bytes` back into the frame.

    Parquet not written by this codec is read as pyarrow's `to_pandas` reads it.
    """
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(
            f"not readable Parquet bytes: {exc}", source="parquet bytes", rule="unreadable-parquet"
        ) from exc
    raw = (table.schema.metadata or {}).get(_METADATA_KEY)
    if raw is None:
        return table.to_pandas()
    metadata = json.loads(raw)
    index_meta = metadata["index"]

    if index_meta["kind"] == "range":
        index: pd.Index = pd.RangeIndex(
            index_meta["start"], index_meta["stop"], index_meta["step"], name=index_meta["name"]
        )
    else:
        index = pd.Index(table.column(_INDEX_FIELD).to_pandas(), name=index_meta["name"])
        table = table.drop_columns([_INDEX_FIELD])
    if table.num_columns == 0:
        frame = pd.DataFrame(index=index)
    else:
        frame = table.to_pandas()
        frame.index = index
    frame.columns = pd.Index(table.column_names, dtype="str", name=metadata["columns_name"])
    return frame
