"""Parquet codec: deterministic bytes, lossless round trips for returns and plain tables."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.data.codec import (
    PARQUET_MEDIA_TYPE,
    frame_from_parquet_bytes,
    frame_to_parquet_bytes,
)


def _returns() -> pd.DataFrame:
    dates = pd.date_range("2021-01-01", periods=6, freq="D", tz="UTC", name="date")
    return pd.DataFrame(
        {
            "NYSE:IBM": [0.01, np.nan, np.nan, -0.02, 0.0, 0.03],
            "BINANCE:BTCUSDT": [0.05, -0.04, 0.02, 0.01, -0.03, 1e-300],
        },
        index=dates,
    )


def _weights() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": ["BINANCE:BTCUSDT", "NYSE:IBM", "NASDAQ:AAPL"],
            "weight": [0.5, 0.3, 0.2],
            "net_weight": [0.5, -0.3, 0.2],
            "direction": ["long", "short", "long"],
            "cluster": [0, 1, 1],
        }
    )


def test_media_type() -> None:
    assert PARQUET_MEDIA_TYPE == "application/vnd.apache.parquet"


def test_returns_round_trip_is_lossless() -> None:
    frame = _returns()
    back = frame_from_parquet_bytes(frame_to_parquet_bytes(frame))
    pd.testing.assert_frame_equal(back, frame, check_freq=False)
    assert back.index.name == "date" and str(back.index.dtype) == "datetime64[us, UTC]"
    assert list(back.columns) == ["NYSE:IBM", "BINANCE:BTCUSDT"]  # order kept, not sorted
    assert back.iloc[5, 1] == 1e-300 and np.isnan(back.iloc[1, 0])


def test_plain_table_round_trip_is_lossless() -> None:
    table = _weights()
    back = frame_from_parquet_bytes(frame_to_parquet_bytes(table))
    pd.testing.assert_frame_equal(back, table)
    assert isinstance(back.index, pd.RangeIndex)


@pytest.mark.parametrize(
    "frame",
    [
        _weights().set_index("symbol"),
        _weights().iloc[1:],  # a non-default integer index
        pd.DataFrame({"x": [1.0, 2.0]}, index=pd.RangeIndex(10, 14, 2, name="step")),
        _weights().assign(direction=lambda f: f["direction"].astype("category")),
        _weights().assign(flag=[True, False, True], when=pd.Timestamp("2024-01-31", tz="UTC")),
        _returns().iloc[:0],
        pd.DataFrame(index=pd.RangeIndex(3), columns=pd.Index([], dtype="str")),
        _returns().rename_axis(columns="symbol"),
    ],
    ids=[
        "text-index", "int-index", "range-index", "categorical",
        "bool-timestamp", "no-rows", "no-columns", "named-axis",
    ],  # fmt: skip
)
def test_other_shapes_round_trip(frame: pd.DataFrame) -> None:
    back = frame_from_parquet_bytes(frame_to_parquet_bytes(frame))
    pd.testing.assert_frame_equal(back, frame, check_freq=False)


def test_encoding_twice_gives_identical_bytes() -> None:
    assert frame_to_parquet_bytes(_returns()) == frame_to_parquet_bytes(_returns())
    assert frame_to_parquet_bytes(_weights()) == frame_to_parquet_bytes(_weights())


def test_equal_frames_built_differently_give_identical_bytes() -> None:
    frame = _returns()
    # from a numpy array in Fortran order, text dates, no freq, columns renamed into place
    values = np.asfortranarray(frame.to_numpy())
    other = pd.DataFrame(values, columns=["a", "b"])
    other.index = pd.DatetimeIndex([d.isoformat() for d in frame.index], name="date")
    other = other.rename(columns={"a": "NYSE:IBM", "b": "BINANCE:BTCUSDT"})
    assert other.equals(frame) and other.index.freq is None and frame.index.freq is not None
    assert frame_to_parquet_bytes(other) == frame_to_parquet_bytes(frame)

    table = _weights()
    as_objects = pd.DataFrame(
        {name: pd.Series(table[name].tolist(), dtype=object) if table[name].dtype == "str" else table[name]
         for name in table.columns}
    )
    assert as_objects["symbol"].dtype == object
    assert frame_to_parquet_bytes(as_objects) == frame_to_parquet_bytes(table)


def test_different_frames_give_different_bytes() -> None:
    frame = _returns()
    changed = frame.copy()
    changed.iloc[0, 0] = 0.010000000000000002
    assert frame_to_parquet_bytes(changed) != frame_to_parquet_bytes(frame)
    reordered = frame[["BINANCE:BTCUSDT", "NYSE:IBM"]]
    assert frame_to_parquet_bytes(reordered) != frame_to_parquet_bytes(frame)


def test_bytes_are_plain_parquet_with_fixed_options_and_no_pandas_metadata() -> None:
    data = frame_to_parquet_bytes(_returns())
    metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
    assert metadata.num_row_groups == 1
    assert metadata.row_group(0).column(1).compression == "ZSTD"
    keys = set(pq.read_schema(pa.BufferReader(data)).metadata)
    assert b"pandas" not in keys and b"quant.frame" in keys
    # any Parquet reader sees the index as a regular UTC timestamp column
    table = pq.read_table(pa.BufferReader(data))
    assert table.column_names == ["__index__", "NYSE:IBM", "BINANCE:BTCUSDT"]
    assert table.schema.field("__index__").type == pa.timestamp("us", tz="UTC")


def test_content_hash_is_stable_for_a_known_frame() -> None:
    first = hashlib.sha256(frame_to_parquet_bytes(_weights())).hexdigest()
    second = hashlib.sha256(frame_to_parquet_bytes(_weights().copy(deep=True))).hexdigest()
    assert first == second


def test_foreign_parquet_is_read_with_pandas_metadata() -> None:
    frame = _weights()
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame), sink)
    pd.testing.assert_frame_equal(frame_from_parquet_bytes(sink.getvalue().to_pybytes()), frame)


@pytest.mark.parametrize(
    "bad",
    [
        pd.DataFrame({1: [0.1]}),
        pd.DataFrame([[0.1, 0.2]], columns=["a", "a"]),
        pd.DataFrame({"__index__": [0.1]}),
        pd.DataFrame({"a": [0.1]}, index=pd.MultiIndex.from_tuples([("x", 1)])),
        pd.DataFrame({"a": [0.1]}, index=pd.Index(["x"], name=3)),
        [[0.1]],
    ],
    ids=["int-column", "duplicate-columns", "reserved-name", "multiindex", "int-index-name", "not-a-frame"],
)
def test_unencodable_frames_are_refused(bad: object) -> None:
    with pytest.raises(ParamValidationError) as info:
        frame_to_parquet_bytes(bad)  # type: ignore[arg-type]
    assert info.value.param == "df" and info.value.rule == "parquet-frame"


def test_corrupt_bytes() -> None:
    with pytest.raises(DataValidationError) as info:
        frame_from_parquet_bytes(b"PAR1 garbage")
    assert info.value.rule == "unreadable-parquet"


def test_fast_float_path_builds_the_same_arrow_table_as_pandas() -> None:
    from quant_stages.data.codec import _arrow_table

    frame = _returns()
    fast = _arrow_table(frame)
    assert fast.equals(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None))
    assert fast.column("NYSE:IBM").null_count == 2  # NaN stored as null, like from_pandas


def test_mixed_float_and_text_frame_round_trips_through_the_general_path() -> None:
    frame = _returns().assign(note=["a", None, "c", "d", "e", "f"])
    back = frame_from_parquet_bytes(frame_to_parquet_bytes(frame))
    pd.testing.assert_frame_equal(back, frame, check_freq=False)


def test_decoding_selected_columns_reads_only_those() -> None:
    import pandas as pd
    from quant_core.errors import DataValidationError
    from quant_stages.data.codec import frame_from_parquet_bytes, frame_to_parquet_bytes

    dates = pd.date_range("2024-01-01", periods=4, tz="UTC", name="date")
    frame = pd.DataFrame({"A:X": [0.1, 0.2, 0.3, 0.4], "B:Y": [1.0, 2.0, 3.0, 4.0], "C:Z": [0.0] * 4}, index=dates)
    data = frame_to_parquet_bytes(frame)
    pd.testing.assert_frame_equal(
        frame_from_parquet_bytes(data, ["C:Z", "A:X"]), frame[["C:Z", "A:X"]], check_freq=False  # freq is never kept
    )
    try:
        frame_from_parquet_bytes(data, ["A:X", "NOPE:N"])
    except DataValidationError as error:
        assert error.rule == "missing-columns" and "NOPE:N" in str(error)
    else:
        raise AssertionError("a missing column must be an error")
