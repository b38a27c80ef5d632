"""The returns-matrix contract: read, validate, filter by coverage, reconcile with candidates.

The contract (what every stage may rely on after `validate_returns`):

- a wide `DataFrame`, one column per symbol (`str`, unique), sorted by symbol so that the content
  never depends on the order the columns arrived in;
- a `DatetimeIndex` named `date`, `datetime64[us, UTC]` (pandas 3's default resolution), sorted
  strictly increasing, without `freq`;
- `float64` simple returns `r_t = P_t / P_{t-1} - 1`, finite, `|r| <= max_abs_return`, and never
  below -1 (a price cannot fall by more than 100%);
- NaN where the asset does not trade (weekends for equities, before listing, after delisting).
  Gaps are never filled with zeros: a zero return is a claim that the price did not move.

Every rule broken raises `DataValidationError` naming the file (`source`), the column or row, and
the rule (`.rule`, a short slug). Rows are data rows numbered from 0 in file order; messages also
give the date so that the row can be found in any viewer.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from quant_core.errors import DataValidationError, ParamValidationError

from quant_stages.data.candidates import Candidate
from quant_stages.data.text import SNIFF_BYTES, not_utf8

INDEX_NAME = "date"
TIME_UNIT = "us"

#: Annualisation by asset class, used to override the calendar inferred from the data.
ASSET_CLASS_PERIODS_PER_YEAR: Mapping[str, int] = {
    "crypto": 365,
    "equity": 252,
    "etf": 252,
    "fx": 252,
    "future": 252,
    "index": 252,
    "bond": 252,
    "commodity": 252,
}
SEVEN_DAY_PERIODS = 365
WEEKDAY_PERIODS = 252
#: A seven-day calendar puts 1/7 ~ 14% of observations on each of Saturday and Sunday; a weekday
#: calendar none. 5% on each separates them and tolerates a few stray weekend prints.
WEEKEND_SHARE_THRESHOLD = 0.05

_SATURDAY, _SUNDAY = 5, 6
_MAX_LISTED = 5
# an explicit offset at the end of an ISO 8601 date-time: Z, +01, +01:00, +0100
_TZ_SUFFIX = r"[T ]\d{1,2}.*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


# --------------------------------------------------------------------------------------------
# reading


def read_returns(
    path: str | Path, *, max_abs_return: float = 1.0, assume_utc: bool = False
) -> pd.DataFrame:
    """Read a returns matrix from Parquet (`.parquet`, `.pq`) or CSV (`.csv`) and validate it.

    CSV: the first column holds the dates (ISO 8601), the header row the symbols; empty cells and
    the usual NA spellings (`NaN`, `NA`, `null`) are missing values. Parquet: the frame's index if
    it was written with one (pandas), else a column named `date`, else the first column.
    """
    source = str(path)
    file = Path(path)
    if not file.is_file():
        raise DataValidationError("file not found", source=source, rule="file-not-found")
    if file.stat().st_size == 0:
        raise DataValidationError("file is empty", source=source, rule="empty-file")
    suffix = file.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = _read_parquet(file, source)
    elif suffix == ".csv":
        frame = _read_csv(file, source)
    else:
        raise DataValidationError(
            f"unsupported file type {suffix or '(none)'!r}: use .parquet or .csv",
            source=source,
            rule="unsupported-format",
        )
    return validate_returns(frame, source, max_abs_return=max_abs_return, assume_utc=assume_utc)


def _read_csv(file: Path, source: str) -> pd.DataFrame:
    # pandas renames duplicate headers to `X.1`, so duplicates are looked for in the raw header
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise not_utf8(source, file.read_bytes()[:SNIFF_BYTES], exc) from None
    if not header or not any(cell.strip() for cell in header):
        raise DataValidationError("file is empty", source=source, rule="empty-file")
    if len(header) == 1 and any(separator in header[0] for separator in ";\t|"):
        raise DataValidationError(
            f"header {header[0]!r} has one column: columns must be separated by commas",
            source=source,
            row="header",
            rule="no-columns",
        )
    _check_duplicate_columns(header[1:], source)
    try:
        # dates stay strings here: validate_returns parses them strictly as ISO 8601
        return pd.read_csv(file, index_col=0, dtype={header[0]: str})
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError("file is empty", source=source, rule="empty-file") from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(source, b"", exc) from None
    except pd.errors.ParserError as exc:
        raise DataValidationError(
            f"not a readable CSV file: {exc}", source=source, rule="unreadable-file"
        ) from exc


def _read_parquet(file: Path, source: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(
            f"not a readable Parquet file: {exc}", source=source, rule="unreadable-file"
        ) from exc
    _check_duplicate_columns(table.column_names, source)
    frame = table.to_pandas()
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None):
        return frame
    if frame.shape[1] == 0:
        return frame
    date_column = INDEX_NAME if INDEX_NAME in frame.columns else frame.columns[0]
    return frame.set_index(date_column)


# --------------------------------------------------------------------------------------------
# validation


def validate_returns(
    df: pd.DataFrame, source: str, max_abs_return: float = 1.0, assume_utc: bool = False
) -> pd.DataFrame:
    """Check `df` against the returns contract and return it in canonical form (a new frame).

    Rules, in the order they are checked (`.rule` in brackets): no columns [no-columns], no rows
    [no-rows], column names that are not text [column-name-type] or repeat [duplicate-columns],
    missing or unparsable dates [missing-date, unparsable-date], dates mixing offsets and none
    [mixed-timezones], dates without time zone unless `assume_utc` (then they are taken as UTC)
    [naive-dates], duplicate dates [duplicate-dates], unsorted dates [unsorted-dates], values
    that are not numbers [non-numeric], infinite values [infinite], returns below -100%
    [below-minus-one], `|r| > max_abs_return` [max-abs-return]. Dates in another time zone are
    converted to UTC.
    """
    if not isinstance(max_abs_return, int | float) or not max_abs_return > 0:
        raise ParamValidationError(
            f"max_abs_return must be a number > 0, got {max_abs_return!r}",
            param="max_abs_return",
            value=max_abs_return,
            rule="positive",
        )
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(
            f"expected a DataFrame, got {type(df).__name__}", source=source, rule="not-a-frame"
        )
    if df.shape[1] == 0:
        raise DataValidationError("has no columns (no assets)", source=source, rule="no-columns")
    if df.shape[0] == 0:
        raise DataValidationError("has no rows (no dates)", source=source, rule="no-rows")
    columns = _checked_columns(df.columns, source)
    dates = _parse_dates(df.index, source, assume_utc)
    _check_dates_order(dates, source)
    values = _float_values(df, columns, dates, source)
    _check_values(values, columns, dates, source, float(max_abs_return))

    order = sorted(range(len(columns)), key=columns.__getitem__)
    return pd.DataFrame(
        np.ascontiguousarray(values[:, order]),
        index=dates,
        columns=pd.Index([columns[i] for i in order], dtype="str"),
    )


def _check_duplicate_columns(names: Sequence[Any], source: str) -> None:
    seen: set[Any] = set()
    repeated = sorted({str(name) for name in names if name in seen or seen.add(name)})
    if repeated:
        raise DataValidationError(
            f"duplicate column name(s): {', '.join(repr(name) for name in repeated)}",
            source=source,
            column=repeated[0],
            rule="duplicate-columns",
        )


def _checked_columns(columns: pd.Index, source: str) -> list[str]:
    if isinstance(columns, pd.MultiIndex):
        raise DataValidationError(
            "columns must be one level of symbols, got a MultiIndex",
            source=source,
            rule="column-name-type",
        )
    names = list(columns)
    for name in names:
        if not isinstance(name, str) or not name:
            raise DataValidationError(
                f"column names must be non-empty symbols (text), got {name!r}",
                source=source,
                column=str(name),
                rule="column-name-type",
            )
    _check_duplicate_columns(names, source)
    return names


def _date_label(index: pd.Index, row: int) -> str:
    value = index[row]
    return value.isoformat() if isinstance(value, pd.Timestamp) else str(value)


def _parse_dates(index: pd.Index, source: str, assume_utc: bool) -> pd.DatetimeIndex:
    if isinstance(index, pd.MultiIndex):
        raise DataValidationError(
            "the date index must have one level, got a MultiIndex", source=source, rule="unparsable-date"
        )
    missing = np.asarray(pd.isna(index))
    if missing.any():
        row = int(np.argmax(missing))
        raise DataValidationError("date is missing", source=source, row=row, rule="missing-date")

    if isinstance(index, pd.DatetimeIndex):
        parsed = index
    else:
        if pd.api.types.is_numeric_dtype(index.dtype) or pd.api.types.is_bool_dtype(index.dtype):
            raise DataValidationError(
                f"dates must be ISO 8601 text or datetimes, got {index.dtype} values such as "
                f"{index[0]!r}",
                source=source,
                row=0,
                rule="unparsable-date",
            )
        as_utc = pd.to_datetime(index, format="ISO8601", errors="coerce", utc=True)
        bad = np.asarray(pd.isna(as_utc))
        if bad.any():
            row = int(np.argmax(bad))
            raise DataValidationError(
                f"date {index[row]!r} is not an ISO 8601 date (e.g. 2024-01-31 or "
                f"2024-01-31T00:00:00Z)",
                source=source,
                row=row,
                rule="unparsable-date",
            )
        try:
            parsed = pd.DatetimeIndex(pd.to_datetime(index, format="ISO8601"))
        except ValueError:
            # pandas refuses to mix offsets, or dates with and without one, unless told utc=True
            with_offset = np.asarray(pd.Series(index.astype(str)).str.contains(_TZ_SUFFIX))
            if not with_offset.all():
                row = int(np.argmax(~with_offset))
                raise DataValidationError(
                    f"date {index[row]!r} has no time zone while other dates have one",
                    source=source,
                    row=row,
                    rule="mixed-timezones",
                ) from None
            parsed = pd.DatetimeIndex(as_utc)

    if parsed.tz is None:
        if not assume_utc:
            raise DataValidationError(
                f"dates have no time zone (first: {_date_label(index, 0)}); write them with an "
                "offset (2024-01-31T00:00:00Z) or pass assume_utc=True to take them as UTC",
                source=source,
                row=0,
                rule="naive-dates",
            )
        parsed = parsed.tz_localize("UTC")
    else:
        parsed = parsed.tz_convert("UTC")
    canonical = parsed.as_unit(TIME_UNIT)
    if not (canonical == parsed).all():
        raise DataValidationError(
            "dates carry sub-microsecond precision, which the contract does not keep",
            source=source,
            rule="sub-microsecond-dates",
        )
    return pd.DatetimeIndex(canonical, name=INDEX_NAME, freq=None)


def _check_dates_order(dates: pd.DatetimeIndex, source: str) -> None:
    duplicated = dates.duplicated(keep="first")
    if duplicated.any():
        repeated = dates[duplicated].unique()
        listed = ", ".join(d.isoformat() for d in repeated[:_MAX_LISTED])
        more = f" and {len(repeated) - _MAX_LISTED} more" if len(repeated) > _MAX_LISTED else ""
        raise DataValidationError(
            f"duplicate date(s): {listed}{more}",
            source=source,
            row=int(np.argmax(duplicated)),
            rule="duplicate-dates",
        )
    backwards = np.asarray(dates[1:] < dates[:-1])
    if backwards.any():
        row = int(np.argmax(backwards)) + 1
        raise DataValidationError(
            f"dates must increase: {dates[row].isoformat()} comes after "
            f"{dates[row - 1].isoformat()}",
            source=source,
            row=row,
            rule="unsorted-dates",
        )


def _float_values(
    df: pd.DataFrame, columns: list[str], dates: pd.DatetimeIndex, source: str
) -> np.ndarray:
    dtypes = df.dtypes.to_numpy()
    plain_float = [pd.api.types.is_float_dtype(t) and isinstance(t, np.dtype) for t in dtypes]
    if all(plain_float):
        return df.to_numpy(dtype=np.float64, copy=True)
    values = np.empty(df.shape, dtype=np.float64)
    # column by column only here, on the slow path of frames that are not all float already
    for position, (name, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        series = df.iloc[:, position]
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
            converted = pd.Series(np.nan, index=series.index)
        elif pd.api.types.is_numeric_dtype(dtype):
            values[:, position] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        else:
            # an empty cell is a missing value, as it is when pandas reads a CSV file
            blank = series.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
            series = series.mask(blank)
            converted = pd.to_numeric(series, errors="coerce")
        bad = np.asarray(converted.isna() & series.notna())
        if bad.any():
            row = int(np.argmax(bad))
            raise DataValidationError(
                f"value {_show(series.iloc[row])} on {dates[row].date().isoformat()} is not a number",
                source=source,
                column=name,
                row=row,
                rule="non-numeric",
            )
        values[:, position] = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _show(value: Any) -> str:
    """repr for text, plain str for numpy scalars (`True`, not `np.True_`)."""
    return repr(value) if isinstance(value, str) else str(getattr(value, "item", lambda: value)())


def _first_cell(mask: np.ndarray, columns: list[str]) -> tuple[int, str, int]:
    """Earliest row holding a flagged cell, the smallest symbol in it, and the flagged count."""
    row = int(np.argmax(mask.any(axis=1)))
    column = min(columns[i] for i in np.flatnonzero(mask[row]))
    return row, column, int(mask.sum())


def _check_values(
    values: np.ndarray,
    columns: list[str],
    dates: pd.DatetimeIndex,
    source: str,
    max_abs_return: float,
) -> None:
    position = {name: i for i, name in enumerate(columns)}
    with np.errstate(invalid="ignore"):
        rules = (
            (np.isinf(values), "infinite", "is infinite"),
            (values < -1.0, "below-minus-one", "is below -1 (a loss of more than 100%)"),
            (
                np.abs(values) > max_abs_return,
                "max-abs-return",
                f"exceeds max_abs_return={max_abs_return:g} in absolute value",
            ),
        )
    for mask, rule, what in rules:
        if mask.any():
            row, column, count = _first_cell(mask, columns)
            more = f" ({count - 1} more such value(s) in the file)" if count > 1 else ""
            raise DataValidationError(
                f"return {float(values[row, position[column]])!r} on {dates[row].date().isoformat()} "
                f"{what}{more}",
                source=source,
                column=column,
                row=row,
                rule=rule,
            )


# --------------------------------------------------------------------------------------------
# calendars, coverage, reconciliation


def _trades_on_weekends(observed: np.ndarray, dates: pd.DatetimeIndex) -> np.ndarray:
    """Per asset: Saturdays and Sundays each hold >= WEEKEND_SHARE_THRESHOLD of its observations."""
    weekday = np.asarray(dates.day_of_week)
    total = observed.sum(axis=0)
    saturdays = observed[weekday == _SATURDAY].sum(axis=0)
    sundays = observed[weekday == _SUNDAY].sum(axis=0)
    floor = WEEKEND_SHARE_THRESHOLD * total
    return (total > 0) & (saturdays >= floor) & (sundays >= floor)


def periods_per_year(
    df: pd.DataFrame, asset_classes: Mapping[str, str | None] | None = None
) -> pd.Series:
    """Observations per year for each asset: 365 on a seven-day calendar, 252 on weekdays.

    Inferred from the data: an asset is on a seven-day calendar (crypto) when Saturdays and
    Sundays each hold at least 5% of its observations (a seven-day calendar puts ~14% on each,
    a weekday calendar none); 252 otherwise, and for assets without any observation. An
    `asset_classes` mapping (symbol -> asset class, e.g. from the candidates) overrides the
    inference for the classes in `ASSET_CLASS_PERIODS_PER_YEAR`; other classes keep it.
    Returns an int64 Series indexed by the frame's columns, named `periods_per_year`.
    """
    observed = df.notna().to_numpy()
    dates = pd.DatetimeIndex(df.index)
    periods = np.where(_trades_on_weekends(observed, dates), SEVEN_DAY_PERIODS, WEEKDAY_PERIODS)
    result = pd.Series(periods.astype(np.int64), index=df.columns, name="periods_per_year")
    if asset_classes:
        classes = pd.Series(df.columns, index=df.columns, dtype=object).map(asset_classes)
        overrides = classes.str.lower().map(ASSET_CLASS_PERIODS_PER_YEAR)
        result = overrides.fillna(result).astype(np.int64).rename("periods_per_year")
    return result


def point_in_time_coverage(df: pd.DataFrame, seven_day: np.ndarray | pd.Series) -> pd.DataFrame:
    """Coverage and staleness of every asset as of the frame's last row (a point-in-time view).

    An asset's calendar is seven-day (`seven_day` True, e.g. crypto) or weekday; the rows of a
    calendar are those on which at least one asset of that calendar has a value, so an equity is
    not punished for weekends or exchange holidays. Per asset (one row per column, same order):

    - ``coverage``: its observations / the rows of its calendar from its first observation to the
      frame's LAST row. A late listing is not a gap (the history rule is the policy's), but an
      asset that stopped trading keeps losing coverage: as of the last row it is not investable,
      whatever happens later. 0 for an asset without any observation.
    - ``stale``: rows of its calendar after its last observation (0: it traded on the calendar's
      last row). NaN for an asset without any observation.

    Computed from the rows given only: on a train window, it is the universe as of that window's
    end, never knowing the rest of the sample. Nothing is filled.

    Limitation: an asset alone on its calendar defines that calendar's rows by itself, so its
    gaps look like holidays; in a real universe each calendar holds many assets.
    """
    observed = df.notna().to_numpy()
    seven = np.asarray(seven_day, dtype=bool)
    n_rows = observed.shape[0]
    # rows of each calendar, and how many of them lie at or after each row (suffix counts)
    calendar_rows = np.stack([observed[:, ~seven].any(axis=1), observed[:, seven].any(axis=1)], axis=1)
    rows_from = np.vstack([np.cumsum(calendar_rows[::-1], axis=0)[::-1], np.zeros((1, 2), np.int64)])
    has_data = observed.any(axis=0)
    first_row = np.where(has_data, np.argmax(observed, axis=0), n_rows)
    after_last = np.where(has_data, n_rows - np.argmax(observed[::-1], axis=0), n_rows)
    calendar_of = seven.astype(np.int64)
    expected = rows_from[first_row, calendar_of]
    counts = observed.sum(axis=0)
    coverage = np.divide(counts, expected, out=np.zeros(len(counts)), where=expected > 0)
    stale = np.where(has_data, rows_from[after_last, calendar_of], np.nan).astype(np.float64)
    return pd.DataFrame({"coverage": coverage, "stale": stale}, index=df.columns)


def drop_unobserved(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop the columns without a single observation; return the kept frame and the dropped
    symbols (sorted). An asset with no data at all has no data at any date either, so this
    choice needs no knowledge of the future."""
    has_data = df.notna().to_numpy().any(axis=0)
    return df.loc[:, has_data], sorted(str(c) for c in df.columns[~has_data])


@dataclass(frozen=True)
class ReconcileReport:
    """What `reconcile` dropped, for the audit trail. Symbols sorted."""

    candidates_without_returns: tuple[str, ...]
    returns_without_candidate: tuple[str, ...]
    kept: int

    @property
    def clean(self) -> bool:
        return not (self.candidates_without_returns or self.returns_without_candidate)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates_without_returns": list(self.candidates_without_returns),
            "returns_without_candidate": list(self.returns_without_candidate),
            "kept": self.kept,
        }


def reconcile(
    candidates: Sequence[Candidate], returns: pd.DataFrame
) -> tuple[list[Candidate], pd.DataFrame, ReconcileReport]:
    """Keep the symbols present in both the candidates and the returns columns.

    Candidates without a returns column and columns without a candidate are both dropped and
    listed in the report (nothing is dropped silently). Both outputs are sorted by symbol. Raises
    `DataValidationError` (rule `no-overlap`) when no symbol is in both.
    """
    by_symbol = {candidate.symbol: candidate for candidate in candidates}
    columns = set(returns.columns)
    kept = sorted(by_symbol.keys() & columns)
    report = ReconcileReport(
        candidates_without_returns=tuple(sorted(by_symbol.keys() - columns)),
        returns_without_candidate=tuple(sorted(str(c) for c in columns - by_symbol.keys())),
        kept=len(kept),
    )
    if not kept:
        raise DataValidationError(
            f"no candidate has a returns column ({len(by_symbol)} candidates, "
            f"{len(columns)} columns; e.g. candidate {min(by_symbol, default='-')!r}, "
            f"column {min(map(str, columns), default='-')!r})",
            source="candidates vs returns",
            rule="no-overlap",
        )
    return [by_symbol[symbol] for symbol in kept], returns.loc[:, kept], report
