"""The candidates contract: one JSON object per tradable asset, read and validated at ingestion.

A candidates file is a JSON list of objects. Each object names one asset by a TradingView-style
symbol `EXCHANGE:TICKER` (`BINANCE:BTCUSDT`, `NASDAQ:AAPL`) and carries the metadata the selection
stages use (asset class, sector, underlying identity, direction, liquidity). Real files carry more
keys than these; extra keys are kept untouched on the model (`candidate.model_extra`).

Rows are numbered from 0, as list indexes (`jq '.[3]'` is row 3), in every error message.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from quant_core.errors import DataValidationError

from quant_stages.data.text import read_text_file

#: `EXCHANGE:TICKER`; the ticker may hold `/` (`FX:EUR/USD`), `.` (`LSE:BRK.B`) and `-`.
SYMBOL_PATTERN = r"^[A-Z0-9_.-]+:[A-Za-z0-9_.\-/]+$"


class Candidate(BaseModel):
    """One candidate asset. Extra keys of the source object are allowed and kept.

    `exchange` defaults to the symbol's prefix; `asset_class` is stored lower-case so that
    `Crypto` and `crypto` are one class; `value_traded` is the average daily value traded in USD
    (None when the source does not say, which liquidity screens treat as unknown, not as zero).
    """

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    symbol: str = Field(pattern=SYMBOL_PATTERN)
    name: str | None = None
    exchange: str | None = None
    asset_class: str | None = None
    sector: str | None = None
    identity: str | None = None
    direction: Literal["long", "short"] = "long"
    value_traded: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    listed_since: dt.date | None = None

    @field_validator("asset_class")
    @classmethod
    def _lower_case_asset_class(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @model_validator(mode="after")
    def _exchange_from_symbol(self) -> Candidate:
        if self.exchange is None:
            # frozen model: write through object.__setattr__ once, during validation only
            object.__setattr__(self, "exchange", self.symbol.split(":", 1)[0])
        return self


def _describe_error(error: ErrorDetails) -> tuple[str, str]:
    """A short human message and a rule slug for one pydantic error."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = f", got {error['input']!r}" if kind != "missing" else ""
    if kind == "missing":
        return "is required", "missing-field"
    if kind == "string_pattern_mismatch":
        return f"must look like EXCHANGE:TICKER (pattern {SYMBOL_PATTERN}){got}", "symbol-pattern"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
        bound = next(iter(ctx.values()))
        return f"must be {op[kind]} {bound:g}{got}", "out-of-range"
    if kind == "literal_error":
        return f"must be {ctx['expected']}{got}", "not-allowed"
    if kind == "finite_number":
        return f"must be a finite number{got}", "not-finite"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}{got}", "invalid-field"


def _symbol_label(raw: dict[str, Any]) -> str:
    symbol = raw.get("symbol")
    return symbol if isinstance(symbol, str) else "no symbol"


def _row_error(
    source: str, row: int, label: str, field: str | None, message: str, rule: str
) -> DataValidationError:
    """`source: row 3 (NASDAQ:AAPL), field 'value_traded': message`, with the attributes set."""
    where = f"row {row} ({label})" + (f", field {field!r}" if field is not None else "")
    error = DataValidationError(f"{source}: {where}: {message}", rule=rule)
    error.source, error.column, error.row = source, field, row
    return error


def validate_candidates(raw: list[dict[str, Any]], source: str) -> list[Candidate]:
    """Validate raw candidate objects into `Candidate`s, sorted by symbol.

    Raises `DataValidationError` (with `.source`, `.row`, `.column` = the field and `.rule`) on
    the first bad row in file order: an element that is not an object (`row-not-object`), an
    invalid or missing field (`missing-field`, `symbol-pattern`, `out-of-range`, ...), or a symbol
    already seen in an earlier row (`duplicate-symbol`, naming both rows). An empty list is an
    error too (`no-rows`): a universe without candidates cannot be selected from.
    """
    if not isinstance(raw, list):
        raise DataValidationError(
            f"candidates must be a JSON list of objects, got {type(raw).__name__}",
            source=source,
            rule="not-a-list",
        )
    if not raw:
        raise DataValidationError("contains no candidates (empty list)", source=source, rule="no-rows")

    candidates: list[Candidate] = []
    first_row_of: dict[str, int] = {}
    for row, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _row_error(
                source, row, "not an object", None,
                f"each candidate must be a JSON object, got {type(item).__name__}", "row-not-object",
            )  # fmt: skip
        try:
            candidate = Candidate.model_validate(item)
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            message, rule = _describe_error(first)
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more invalid field(s) in this row)"
            raise _row_error(source, row, _symbol_label(item), field, message, rule) from exc
        if candidate.symbol in first_row_of:
            earlier = first_row_of[candidate.symbol]
            raise _row_error(
                source, row, candidate.symbol, "symbol",
                f"duplicate symbol: rows {earlier} and {row} both name {candidate.symbol!r}",
                "duplicate-symbol",
            )  # fmt: skip
        first_row_of[candidate.symbol] = row
        candidates.append(candidate)
    return sorted(candidates, key=lambda candidate: candidate.symbol)


def read_candidates(path: str | Path) -> list[Candidate]:
    """Read a JSON candidates file and validate it (see `validate_candidates`).

    File-level rules: `file-not-found`, `empty-file` (no bytes or only whitespace), `invalid-json`
    (with line and column), `not-a-list`.
    """
    source = str(path)
    text = read_text_file(path, source)
    if not text.strip():
        raise DataValidationError("file is empty", source=source, rule="empty-file")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataValidationError(
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            source=source,
            rule="invalid-json",
        ) from exc
    return validate_candidates(raw, source)


def candidates_to_records(candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    """JSON-ready dicts (dates as ISO strings, extra keys kept), e.g. to write a candidates file."""
    return [candidate.model_dump(mode="json") for candidate in candidates]
