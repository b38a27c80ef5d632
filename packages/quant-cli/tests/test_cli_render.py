"""Formatting helpers: cells, durations, strict JSON, cache lines."""

from __future__ import annotations

import json
import math

import pytest

from quant_cli.jsonout import dumps, json_safe
from quant_cli.render import cache_summary, fmt_duration, fmt_value
from quant_cli.report import artifact_ref


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (math.nan, "—"),
        (math.inf, "—"),
        (True, "yes"),
        (False, "no"),
        (7, "7"),
        (123456, "123,456"),
        (504.0, "504"),
        (1.0, "1"),
        (0.0, "0.0000"),
        (0.123456, "0.1235"),
        (-0.09, "-0.0900"),
        (12345.6, "12,346"),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
        ("text", "text"),
    ],
)
def test_fmt_value(value: object, text: str) -> None:
    assert fmt_value(value) == text


def test_fmt_duration() -> None:
    assert fmt_duration(None) == "—"
    assert fmt_duration(0.004) == "0.00s"
    assert fmt_duration(59.994) == "59.99s"
    assert fmt_duration(75.25) == "1m15.2s"


def test_json_output_is_strict_json() -> None:
    document = {"sharpe": math.nan, "rows": [1.5, -math.inf, {"x": math.inf}], "n": 3}
    assert json_safe(document) == {"sharpe": None, "rows": [1.5, None, {"x": None}], "n": 3}
    assert json.loads(dumps(document)) == {"sharpe": None, "rows": [1.5, None, {"x": None}], "n": 3}


def test_artifact_ref_accepts_data_or_json_text() -> None:
    data = {"sha256": "a" * 64, "size": 3, "media_type": "text/html", "uri": "quant-artifact:sha256:" + "a" * 64}
    assert artifact_ref(data) == artifact_ref(json.dumps(data))
    assert artifact_ref(data).size == 3


@pytest.mark.parametrize(
    ("total", "hits", "text"),
    [
        (10, 10, "served from the cache: all 10 stage(s) were cache hits, nothing was recomputed"),
        (10, 3, "3 of 10 stage(s) served from the cache, 7 computed"),
        (4, 0, "4 stage(s) computed, none from the cache"),
    ],
)
def test_cache_summary(total: int, hits: int, text: str) -> None:
    assert cache_summary({"stage_count": total, "cache_hits": hits}) == text
