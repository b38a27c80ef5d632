"""Returns-matrix contract: canonical form, readers, one bad-input test per rule, coverage,
calendars and reconciliation with the candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.data.candidates import Candidate
from quant_stages.data.returns import (
    drop_unobserved,
    point_in_time_coverage,
    periods_per_year,
    read_returns,
    reconcile,
    validate_returns,
)

SOURCE = "returns.csv"


def _frame() -> pd.DataFrame:
    """Seven days from Friday 2021-01-01 (UTC): one crypto, one equity (NaN on the weekend)."""
    dates = pd.date_range("2021-01-01", periods=7, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "NYSE:IBM": [0.01, np.nan, np.nan, -0.02, 0.0, 0.03, -0.01],
            "BINANCE:BTCUSDT": [0.05, -0.04, 0.02, 0.01, -0.03, 0.02, 0.0],
        },
        index=dates,
    )


def _rejects(df: pd.DataFrame, **kwargs: object) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        validate_returns(df, SOURCE, **kwargs)
    error = info.value
    assert error.source == SOURCE and str(error).startswith(SOURCE)
    return error


# ---- canonical form


def test_validated_frame_follows_the_contract() -> None:
    out = validate_returns(_frame(), SOURCE)
    assert list(out.columns) == ["BINANCE:BTCUSDT", "NYSE:IBM"]  # sorted by symbol
    assert isinstance(out.index, pd.DatetimeIndex)
    assert out.index.name == "date" and str(out.index.tz) == "UTC" and out.index.freq is None
    assert str(out.index.dtype) == "datetime64[us, UTC]"
    assert (out.dtypes == np.float64).all()
    assert out.loc["2021-01-04", "NYSE:IBM"] == -0.02
    assert out["NYSE:IBM"].isna().sum() == 2  # the weekend stays NaN, never 0


def test_column_order_does_not_change_the_result() -> None:
    frame = _frame()
    reordered = frame[list(reversed(frame.columns))]
    pd.testing.assert_frame_equal(validate_returns(frame, SOURCE), validate_returns(reordered, SOURCE))


def test_integer_and_text_numbers_become_float64() -> None:
    frame = _frame()
    frame["NYSE:ZERO"] = 0
    frame["NYSE:TXT"] = ["0.01", None, "", "1e-3", "-0.5", "0", "0.25"]
    out = validate_returns(frame, SOURCE)
    assert (out.dtypes == np.float64).all()
    assert out["NYSE:TXT"].tolist()[3:] == [0.001, -0.5, 0.0, 0.25]
    assert out["NYSE:TXT"].iloc[1:3].isna().all()


def test_other_time_zones_are_converted_to_utc() -> None:
    frame = _frame()
    frame.index = pd.date_range("2021-01-01", periods=7, freq="D", tz="America/New_York")
    out = validate_returns(frame, SOURCE)
    assert out.index[0] == pd.Timestamp("2021-01-01T05:00:00Z")


def test_text_dates_with_offsets_are_converted_to_utc() -> None:
    frame = _frame()
    frame.index = [f"2021-01-0{d}T00:00:00+01:00" for d in range(1, 8)]
    assert validate_returns(frame, SOURCE).index[0] == pd.Timestamp("2020-12-31T23:00:00Z")


def test_naive_dates_are_localised_when_assume_utc() -> None:
    frame = _frame()
    frame.index = [f"2021-01-0{d}" for d in range(1, 8)]
    out = validate_returns(frame, SOURCE, assume_utc=True)
    assert out.index[0] == pd.Timestamp("2021-01-01T00:00:00Z")


# ---- readers


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "returns.csv"
    path.write_text(
        "date,NYSE:IBM,BINANCE:BTCUSDT\n"
        "2021-01-01T00:00:00Z,0.01,0.05\n"
        "2021-01-02T00:00:00Z,,-0.04\n"
        "2021-01-03T00:00:00Z,NaN,0.02\n"
    )
    out = read_returns(path)
    assert list(out.columns) == ["BINANCE:BTCUSDT", "NYSE:IBM"]
    assert out["BINANCE:BTCUSDT"].tolist() == [0.05, -0.04, 0.02]
    assert out["NYSE:IBM"].iloc[1:].isna().all()


def test_parquet_with_index_and_with_date_column(tmp_path: Path) -> None:
    expected = validate_returns(_frame(), SOURCE)
    expected.to_parquet(tmp_path / "indexed.parquet")
    expected.reset_index().to_parquet(tmp_path / "column.parquet", index=False)
    pd.testing.assert_frame_equal(read_returns(tmp_path / "indexed.parquet"), expected)
    pd.testing.assert_frame_equal(read_returns(tmp_path / "column.parquet"), expected)


def test_reader_passes_options(tmp_path: Path) -> None:
    path = tmp_path / "naive.csv"
    path.write_text("date,NYSE:IBM\n2021-01-04,1.5\n")
    out = read_returns(path, max_abs_return=2.0, assume_utc=True)
    assert out.iloc[0, 0] == 1.5 and str(out.index.tz) == "UTC"


# ---- bad files


def _file_error(path: Path) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        read_returns(path)
    assert info.value.source == str(path) and str(path) in str(info.value)
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    assert _file_error(tmp_path / "nope.csv").rule == "file-not-found"


@pytest.mark.parametrize(("name", "content"), [("r.csv", ""), ("r.csv", "\n\n"), ("r.parquet", "")])
def test_empty_file(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert _file_error(path).rule == "empty-file"


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("date,NYSE:IBM\n")
    assert _file_error(path).rule == "no-rows"


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_text("x")
    assert _file_error(path).rule == "unsupported-format"


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    path.write_bytes(b"not parquet at all")
    assert _file_error(path).rule == "unreadable-file"


def test_duplicate_csv_header_is_caught_before_pandas_renames_it(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("date,NYSE:IBM,NYSE:IBM\n2021-01-04T00:00:00Z,0.1,0.2\n")
    error = _file_error(path)
    assert error.rule == "duplicate-columns" and error.column == "NYSE:IBM"


# ---- bad frames, one test per rule


def test_no_columns() -> None:
    assert _rejects(_frame().iloc[:, :0]).rule == "no-columns"


def test_no_rows() -> None:
    assert _rejects(_frame().iloc[:0]).rule == "no-rows"


def test_duplicate_columns() -> None:
    frame = _frame()
    frame.columns = ["NYSE:IBM", "NYSE:IBM"]
    error = _rejects(frame)
    assert error.rule == "duplicate-columns" and error.column == "NYSE:IBM"
    assert "'NYSE:IBM'" in str(error)


def test_column_names_must_be_text() -> None:
    frame = _frame()
    frame[7] = 0.0
    error = _rejects(frame)
    assert error.rule == "column-name-type" and error.column == "7"


def test_unparsable_date_names_row_and_value() -> None:
    frame = _frame()
    frame.index = ["2021-01-01T00:00Z", "2021-01-02T00:00Z", "02/01/2021", "x", "y", "z", "w"]
    error = _rejects(frame)
    assert error.rule == "unparsable-date" and error.row == 2
    assert "'02/01/2021'" in str(error) and "row 2" in str(error)


def test_integer_dates_are_rejected() -> None:
    frame = _frame()
    frame.index = range(20210101, 20210108)
    assert _rejects(frame).rule == "unparsable-date"


def test_missing_date() -> None:
    frame = _frame()
    frame.index = ["2021-01-01T00:00Z", None] + [f"2021-01-0{d}T00:00Z" for d in range(3, 8)]
    error = _rejects(frame)
    assert error.rule == "missing-date" and error.row == 1


def test_naive_dates_are_rejected_by_default() -> None:
    frame = _frame()
    frame.index = frame.index.tz_localize(None)
    error = _rejects(frame)
    assert error.rule == "naive-dates" and "assume_utc" in str(error)


def test_mixed_offsets_and_naive_dates() -> None:
    frame = _frame()
    frame.index = ["2021-01-01T00:00:00Z"] + [f"2021-01-0{d}" for d in range(2, 8)]
    error = _rejects(frame)
    assert error.rule == "mixed-timezones" and error.row == 1 and "'2021-01-02'" in str(error)


def test_duplicate_dates_are_named() -> None:
    frame = _frame()
    frame.index = frame.index[[0, 1, 2, 2, 4, 5, 5]]
    error = _rejects(frame)
    assert error.rule == "duplicate-dates" and error.row == 3
    assert "2021-01-03T00:00:00+00:00" in str(error) and "2021-01-06T00:00:00+00:00" in str(error)


def test_unsorted_dates_name_the_first_out_of_order_row() -> None:
    frame = _frame()
    frame.index = frame.index[[0, 1, 2, 4, 3, 5, 6]]
    error = _rejects(frame)
    assert error.rule == "unsorted-dates" and error.row == 4
    assert "2021-01-04T00:00:00+00:00 comes after 2021-01-05T00:00:00+00:00" in str(error)


def test_non_numeric_value_names_column_row_and_value() -> None:
    frame = _frame().astype(object)
    frame.iloc[5, 0] = "1,5%"
    frame.iloc[6, 0] = "oops"
    error = _rejects(frame)
    assert (error.rule, error.column, error.row) == ("non-numeric", "NYSE:IBM", 5)
    assert "'1,5%'" in str(error) and "2021-01-06" in str(error)


def test_boolean_values_are_not_returns() -> None:
    frame = _frame()
    frame["NYSE:FLAG"] = True
    error = _rejects(frame)
    assert (error.rule, error.column, error.row) == ("non-numeric", "NYSE:FLAG", 0)


def test_infinite_value() -> None:
    frame = _frame()
    frame.iloc[3, 1] = -np.inf
    error = _rejects(frame)
    assert (error.rule, error.column, error.row) == ("infinite", "BINANCE:BTCUSDT", 3)
    assert "-inf" in str(error) and "2021-01-04" in str(error)


def test_return_beyond_max_abs_names_column_date_and_value() -> None:
    frame = _frame()
    frame.iloc[4, 0] = 0.45
    frame.iloc[6, 1] = 0.6
    error = _rejects(frame, max_abs_return=0.4)
    assert (error.rule, error.column, error.row) == ("max-abs-return", "NYSE:IBM", 4)
    assert "0.45" in str(error) and "2021-01-05" in str(error) and "1 more" in str(error)
    assert validate_returns(frame, SOURCE).loc["2021-01-07", "BINANCE:BTCUSDT"] == 0.6


def test_loss_beyond_total_is_impossible_even_with_a_loose_bound() -> None:
    frame = _frame()
    frame.iloc[2, 1] = -1.2
    error = _rejects(frame, max_abs_return=5.0)
    assert (error.rule, error.column, error.row) == ("below-minus-one", "BINANCE:BTCUSDT", 2)


@pytest.mark.parametrize("bound", [0, -1.0, "1"])
def test_max_abs_return_must_be_positive(bound: object) -> None:
    with pytest.raises(ParamValidationError) as info:
        validate_returns(_frame(), SOURCE, max_abs_return=bound)  # type: ignore[arg-type]
    assert info.value.param == "max_abs_return"


# ---- calendars


def _calendar_frame() -> pd.DataFrame:
    """14 days from Monday 2021-01-04: 10 weekdays, 2 weekends."""
    dates = pd.date_range("2021-01-04", periods=14, freq="D", tz="UTC", name="date")
    weekday = np.asarray(dates.day_of_week) < 5
    every_day = np.full(14, 0.01)
    weekdays_only = np.where(weekday, 0.01, np.nan)
    gappy = weekdays_only.copy()
    gappy[[1, 2]] = np.nan  # two missing weekdays: 8 of 10
    late = weekdays_only.copy()
    late[:7] = np.nan  # listed Monday 2021-01-11: 5 of 5 since
    delisted = every_day.copy()
    delisted[11:] = np.nan  # stops trading after 11 of 14 rows: 11 of 11 while listed
    holey = every_day.copy()
    holey[[2, 3, 4]] = np.nan  # 11 of 14 rows inside its life
    return pd.DataFrame(
        {
            "NYSE:FULL": weekdays_only,
            "NYSE:GAPPY": gappy,
            "NYSE:LATE": late,
            "BINANCE:FULLUSDT": every_day,
            "BINANCE:GONEUSDT": delisted,
            "BINANCE:HOLEUSDT": holey,
            "BINANCE:NONEUSDT": np.full(14, np.nan),
        },
        index=dates,
    )


def test_periods_per_year_is_inferred_from_weekend_trading() -> None:
    periods = periods_per_year(_calendar_frame())
    assert periods.to_dict() == {
        "NYSE:FULL": 252,
        "NYSE:GAPPY": 252,
        "NYSE:LATE": 252,
        "BINANCE:FULLUSDT": 365,
        "BINANCE:GONEUSDT": 365,
        "BINANCE:HOLEUSDT": 365,
        "BINANCE:NONEUSDT": 252,  # no observation: weekday default
    }
    assert periods.dtype == np.int64 and periods.name == "periods_per_year"


def test_a_stray_weekend_print_does_not_make_a_seven_day_calendar() -> None:
    dates = pd.date_range("2021-01-04", periods=70, freq="D", tz="UTC")
    weekday = np.asarray(dates.day_of_week) < 5
    values = np.where(weekday, 0.01, np.nan)
    values[5] = 0.02  # one Saturday print out of 51 observations
    shifted = np.where(np.isin(np.asarray(dates.day_of_week), [6, 0, 1, 2, 3]), 0.01, np.nan)
    frame = pd.DataFrame({"NYSE:A": values, "TSE:SHIFTED": shifted}, index=dates)
    assert periods_per_year(frame).to_dict() == {"NYSE:A": 252, "TSE:SHIFTED": 252}


def test_asset_class_overrides_the_inference() -> None:
    periods = periods_per_year(
        _calendar_frame(), {"NYSE:FULL": "Crypto", "BINANCE:FULLUSDT": "equity", "NYSE:LATE": "other"}
    )
    assert periods["NYSE:FULL"] == 365 and periods["BINANCE:FULLUSDT"] == 252
    assert periods["NYSE:LATE"] == 252 and periods["BINANCE:GONEUSDT"] == 365  # unknown / absent


def test_point_in_time_coverage_known_answer() -> None:
    frame = _calendar_frame()
    result = point_in_time_coverage(frame, periods_per_year(frame) == 365)
    assert list(result.index) == list(frame.columns)
    assert result["coverage"].round(3).to_dict() == {
        "NYSE:FULL": 1.0,
        "NYSE:GAPPY": 0.8,  # two gaps in 10 weekday rows
        "NYSE:LATE": 1.0,  # a late listing is not a gap
        "BINANCE:FULLUSDT": 1.0,
        "BINANCE:GONEUSDT": round(11 / 14, 3),  # stopped trading: not covered as of the last row
        "BINANCE:HOLEUSDT": round(11 / 14, 3),
        "BINANCE:NONEUSDT": 0.0,
    }
    stale = result["stale"]
    assert stale["BINANCE:GONEUSDT"] == 3.0 and stale["NYSE:FULL"] == 0.0  # the last row is a Sunday
    assert np.isnan(stale["BINANCE:NONEUSDT"])


def test_point_in_time_coverage_of_a_prefix_ignores_the_rows_after_it() -> None:
    """As of row 10 the delisted asset is fully covered: what happens later is not known yet."""
    frame = _calendar_frame()
    prefix = point_in_time_coverage(frame.iloc[:11], periods_per_year(frame) == 365)
    assert prefix.at["BINANCE:GONEUSDT", "coverage"] == 1.0 and prefix.at["BINANCE:GONEUSDT", "stale"] == 0.0


def test_drop_unobserved_drops_only_columns_without_any_value() -> None:
    kept, dropped = drop_unobserved(_calendar_frame())
    assert dropped == ["BINANCE:NONEUSDT"]
    assert "BINANCE:GONEUSDT" in kept.columns and kept["NYSE:FULL"].isna().sum() == 4  # nothing filled


# ---- reconciliation


def test_reconcile_reports_both_sides_and_sorts() -> None:
    candidates = [Candidate(symbol=s) for s in ("NYSE:IBM", "NASDAQ:GONE", "BINANCE:BTCUSDT")]
    returns = validate_returns(_frame(), SOURCE).assign(**{"NYSE:ORPHAN": 0.0})
    kept_candidates, kept_returns, report = reconcile(candidates, returns)
    assert [c.symbol for c in kept_candidates] == ["BINANCE:BTCUSDT", "NYSE:IBM"]
    assert list(kept_returns.columns) == ["BINANCE:BTCUSDT", "NYSE:IBM"]
    assert report.candidates_without_returns == ("NASDAQ:GONE",)
    assert report.returns_without_candidate == ("NYSE:ORPHAN",)
    assert not report.clean and report.kept == 2
    assert report.to_dict() == {
        "candidates_without_returns": ["NASDAQ:GONE"],
        "returns_without_candidate": ["NYSE:ORPHAN"],
        "kept": 2,
    }


def test_reconcile_clean_when_everything_matches() -> None:
    candidates = [Candidate(symbol="NYSE:IBM"), Candidate(symbol="BINANCE:BTCUSDT")]
    _, returns, report = reconcile(candidates, validate_returns(_frame(), SOURCE))
    assert report.clean and returns.shape == (7, 2)


def test_reconcile_without_overlap_is_an_error() -> None:
    with pytest.raises(DataValidationError) as info:
        reconcile([Candidate(symbol="NASDAQ:AAPL")], validate_returns(_frame(), SOURCE))
    assert info.value.rule == "no-overlap" and "NASDAQ:AAPL" in str(info.value)


def test_csv_with_another_separator_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("date;NYSE:IBM\n2021-01-04T00:00:00Z;0.1\n")
    error = _file_error(path)
    assert error.rule == "no-columns" and "separated by commas" in str(error)


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"\xef\xbb\xbfdate,NYSE:IBM\n2021-01-04T00:00:00Z,0.1\n")
    assert read_returns(path)["NYSE:IBM"].tolist() == [0.1]
