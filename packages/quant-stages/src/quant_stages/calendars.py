"""Aligning return streams that trade on different calendars, without dropping returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from quant_core.errors import DataValidationError


@dataclass(frozen=True)
class Alignment:
    returns: pd.DataFrame
    compounded: dict[str, int]      # per stream: returns folded into a later common date
    outside: dict[str, int]         # per stream: returns before the common start or after its end


def align_by_compounding(streams: Mapping[str, pd.Series]) -> Alignment:
    """Put streams on their common calendar: the dates on which every stream trades, from the
    latest first date to the earliest last date. A stream's return on a date that is not common
    is compounded into its next common date ((1+r1)(1+r2)-1), never dropped; only returns outside
    the common span (before every stream has started, after one has ended) are left out, and
    counted.

    Raises `DataValidationError` when there is no stream, a stream holds no return, or the
    streams share no date (their spans do not overlap, or overlap only where one never trades).
    """
    if not streams:
        raise DataValidationError("no return streams to align", rule="no-streams")
    cleaned = {name: s.dropna().sort_index() for name, s in sorted(streams.items())}
    for name, series in cleaned.items():
        if series.empty:
            raise DataValidationError(f"return stream {name!r} holds no return", source=name, rule="empty-stream")
    start = max(s.index[0] for s in cleaned.values())
    end = min(s.index[-1] for s in cleaned.values())
    common = pd.Index([])
    for position, series in enumerate(cleaned.values()):
        dates = series.index[(series.index >= start) & (series.index <= end)]
        common = dates if position == 0 else common.intersection(dates)
    if common.empty:
        spans = "; ".join(f"{n}: {s.index[0].date()} to {s.index[-1].date()}" for n, s in cleaned.items())
        raise DataValidationError(
            f"the return streams share no date, so they cannot be aligned ({spans})", rule="no-overlap"
        )
    columns, compounded, outside = {}, {}, {}
    for name, series in cleaned.items():
        # the first common date takes only its own return: earlier ones predate the common span
        inside = series[(series.index >= common[0]) & (series.index <= common[-1])]
        bucket = common[common.searchsorted(inside.index, side="left")]
        growth = (1.0 + inside).groupby(bucket)
        # a date with nothing to fold in keeps its own return bit for bit: (1 + r) - 1 rounds
        own = inside.groupby(bucket).last()
        columns[name] = (growth.prod() - 1.0).where(growth.size() > 1, own).reindex(common)
        compounded[name] = int(len(inside) - len(common))
        outside[name] = int(len(series) - len(inside))
    frame = pd.DataFrame(columns, index=common)
    frame.index.name = "date"
    return Alignment(returns=frame, compounded=compounded, outside=outside)

