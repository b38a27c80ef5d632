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
- with every writer option pinned (zstd level 1; floats in byte-stream-split encoding, which
  compresses them, and other columns dictionary-encoded; statistics; Parquet 2.6; data page v1;
  one row group up to 1,048,576 rows), so the bytes depend only on the frame and on the pyarrow
  version (which Parquet records as `created_by`).

A frame whose columns are all float64 (the returns contract) takes a fast path in both
directions: one 2-D array instead of pandas' column-by-column conversion, same bytes.

Decoding gives back the index (with its name, type and time zone), the column order, names and
dtypes for numpy dtypes, `str` text and categoricals. Nullable extension dtypes (`Int64`,
`boolean`) come back as their numpy counterparts; text columns come back as `str`. A
`DatetimeIndex` comes back without `freq`: it is derived, not data, and keeping it would make
equal frames (`DataFrame.equals` ignores it) encode differently.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
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
    "compression_level": 1,
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

    table = _arrow_table(df)
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

    floating = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    dictionary = [
        f.name
        for f in table.schema
        if not (pa.types.is_floating(f.type) or pa.types.is_timestamp(f.type))
    ]
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        use_dictionary=dictionary,
        use_byte_stream_split=floating,
        **_WRITE_OPTIONS,
    )
    return sink.getvalue()


def _all_float64(dtypes: Any) -> bool:
    return len(dtypes) > 0 and all(dtype == np.float64 for dtype in dtypes)


def _arrow_table(df: pd.DataFrame) -> pa.Table:
    """The frame's columns as Arrow arrays; NaN becomes null, as `Table.from_pandas` does."""
    if _all_float64(df.dtypes.to_numpy()):
        block = np.asfortranarray(df.to_numpy(dtype=np.float64))
        arrays = [pa.array(block[:, j], from_pandas=True) for j in range(block.shape[1])]
        return pa.Table.from_arrays(arrays, names=list(df.columns))
    return pa.Table.from_pandas(df, preserve_index=False)


def _frame_from_table(table: pa.Table) -> pd.DataFrame:
    if table.num_columns and all(pa.types.is_float64(field.type) for field in table.schema):
        block = np.empty((table.num_rows, table.num_columns), dtype=np.float64, order="F")
        for j, column in enumerate(table.columns):
            block[:, j] = column.to_numpy()  # nulls come back as NaN
        return pd.DataFrame(block)
    return table.to_pandas()


def frame_from_parquet_bytes(data: bytes, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Decode bytes from `frame_to_parquet_bytes` back into the frame.

    `columns` decodes only those columns (Parquet is columnar: the others are never read).
    Parquet not written by this codec is read as pyarrow's `to_pandas` reads it.
    """
    try:
        if columns is not None:
            schema = pq.read_schema(pa.BufferReader(data))
            missing = sorted(set(columns) - set(schema.names))
            if missing:
                raise DataValidationError(
                    f"columns {missing[:5]} are not in the table", source="parquet bytes", rule="missing-columns"
                )
            wanted = [*columns, *([_INDEX_FIELD] if _INDEX_FIELD in schema.names else [])]
            table = pq.read_table(pa.BufferReader(data), columns=wanted)
        else:
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
        frame = _frame_from_table(table)
        frame.index = index
    frame.columns = pd.Index(table.column_names, dtype="str", name=metadata["columns_name"])
    return frame
