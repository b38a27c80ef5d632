"""Candidates contract: the model, the reader, and one bad-input test per rule."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from quant_core.errors import DataValidationError
from quant_stages.data.candidates import (
    Candidate,
    candidates_to_records,
    read_candidates,
    validate_candidates,
)


def _write(tmp_path: Path, content: str, name: str = "candidates.json") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def _rows() -> list[dict]:
    return [
        {"symbol": "NASDAQ:MSFT", "asset_class": "equity", "value_traded": 3.0e9},
        {"symbol": "BINANCE:BTCUSDT", "asset_class": "Crypto", "identity": "BTC"},
        {"symbol": "NYSE:BRK.B", "direction": "short", "listed_since": "1996-05-09"},
    ]


def test_valid_rows_are_parsed_sorted_and_complete() -> None:
    candidates = validate_candidates(_rows(), "candidates.json")
    assert [c.symbol for c in candidates] == ["BINANCE:BTCUSDT", "NASDAQ:MSFT", "NYSE:BRK.B"]
    btc, msft, brk = candidates
    assert btc.exchange == "BINANCE" and btc.identity == "BTC"
    assert btc.asset_class == "crypto"  # stored lower-case
    assert btc.direction == "long" and btc.value_traded is None
    assert msft.value_traded == 3.0e9
    assert brk.direction == "short" and brk.listed_since == dt.date(1996, 5, 9)
    assert brk.exchange == "NYSE"


def test_explicit_exchange_is_kept() -> None:
    (candidate,) = validate_candidates([{"symbol": "NASDAQ:AAPL", "exchange": "XNAS"}], "f")
    assert candidate.exchange == "XNAS"


def test_extra_keys_are_kept_and_round_trip(tmp_path: Path) -> None:
    rows = [{"symbol": "NASDAQ:AAPL", "isin": "US0378331005", "tags": ["mega"], "listed_since": "1980-12-12"}]
    (candidate,) = validate_candidates(rows, "f")
    assert candidate.model_extra == {"isin": "US0378331005", "tags": ["mega"]}
    records = candidates_to_records([candidate])
    assert records[0]["isin"] == "US0378331005" and records[0]["listed_since"] == "1980-12-12"
    path = _write(tmp_path, json.dumps(records))
    assert read_candidates(path) == [candidate]


def test_model_is_frozen() -> None:
    candidate = Candidate(symbol="NASDAQ:AAPL")
    with pytest.raises(ValidationError, match="frozen"):
        candidate.symbol = "NASDAQ:MSFT"  # type: ignore[misc]


def test_reads_a_file(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps(_rows()))
    assert [c.symbol for c in read_candidates(path)] == ["BINANCE:BTCUSDT", "NASDAQ:MSFT", "NYSE:BRK.B"]


# ---- bad input, one test per rule


def _error(tmp_path: Path, content: str) -> DataValidationError:
    path = _write(tmp_path, content)
    with pytest.raises(DataValidationError) as info:
        read_candidates(path)
    assert str(path) in str(info.value) and info.value.source == str(path)
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as info:
        read_candidates(tmp_path / "nope.json")
    assert info.value.rule == "file-not-found" and "nope.json" in str(info.value)


@pytest.mark.parametrize("content", ["", "  \n\t"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    error = _error(tmp_path, content)
    assert error.rule == "empty-file"
    assert "empty" in str(error)


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    error = _error(tmp_path, '[{"symbol": "NASDAQ:AAPL"},\n {"symbol": }]')
    assert error.rule == "invalid-json"
    assert "line 2" in str(error)


def test_not_a_list(tmp_path: Path) -> None:
    error = _error(tmp_path, '{"symbol": "NASDAQ:AAPL"}')
    assert error.rule == "not-a-list"
    assert "dict" in str(error)


def test_empty_list(tmp_path: Path) -> None:
    assert _error(tmp_path, "[]").rule == "no-rows"


def test_element_not_an_object(tmp_path: Path) -> None:
    error = _error(tmp_path, '[{"symbol": "NASDAQ:AAPL"}, "NASDAQ:MSFT"]')
    assert error.rule == "row-not-object" and error.row == 1
    assert "row 1" in str(error) and "str" in str(error)


def test_duplicate_symbol_names_both_rows(tmp_path: Path) -> None:
    rows = [{"symbol": "NASDAQ:AAPL"}, {"symbol": "NYSE:IBM"}, {"symbol": "NASDAQ:AAPL"}]
    error = _error(tmp_path, json.dumps(rows))
    assert error.rule == "duplicate-symbol" and error.row == 2 and error.column == "symbol"
    assert "rows 0 and 2" in str(error) and "NASDAQ:AAPL" in str(error)


def test_negative_value_traded_message_names_row_symbol_and_field() -> None:
    rows = [{"symbol": f"NYSE:A{i}"} for i in range(3)] + [{"symbol": "NASDAQ:AAPL", "value_traded": -5}]
    with pytest.raises(DataValidationError) as info:
        validate_candidates(rows, "candidates.json")
    error = info.value
    assert str(error).startswith("candidates.json: row 3 (NASDAQ:AAPL), field 'value_traded': must be >= 0")
    assert (error.source, error.row, error.column, error.rule) == (
        "candidates.json",
        3,
        "value_traded",
        "out-of-range",
    )


@pytest.mark.parametrize(
    ("row", "field", "rule"),
    [
        ({"name": "no symbol"}, "symbol", "missing-field"),
        ({"symbol": "aapl"}, "symbol", "symbol-pattern"),
        ({"symbol": "NASDAQ AAPL"}, "symbol", "symbol-pattern"),
        ({"symbol": "nasdaq:AAPL"}, "symbol", "symbol-pattern"),
        ({"symbol": "NASDAQ:AAPL", "direction": "up"}, "direction", "not-allowed"),
        ({"symbol": "NASDAQ:AAPL", "value_traded": "NaN"}, "value_traded", "not-finite"),
        ({"symbol": "NASDAQ:AAPL", "value_traded": "lots"}, "value_traded", "invalid-field"),
        ({"symbol": "NASDAQ:AAPL", "listed_since": "2021-13-01"}, "listed_since", "invalid-field"),
    ],
)
def test_invalid_field(tmp_path: Path, row: dict, field: str, rule: str) -> None:
    error = _error(tmp_path, json.dumps([{"symbol": "NYSE:IBM"}, row]))
    assert (error.row, error.column, error.rule) == (1, field, rule)
    assert "row 1 (" in str(error) and f"field {field!r}" in str(error)


def test_several_bad_fields_are_counted() -> None:
    with pytest.raises(DataValidationError) as info:
        validate_candidates([{"symbol": "bad", "direction": "up", "value_traded": -1}], "f")
    assert "and 2 more invalid field(s)" in str(info.value)


def test_validate_rejects_non_list() -> None:
    with pytest.raises(DataValidationError) as info:
        validate_candidates({"symbol": "NASDAQ:AAPL"}, "f")  # type: ignore[arg-type]
    assert info.value.rule == "not-a-list"
