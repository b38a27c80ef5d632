"""Canonical JSON: the hash of a document does not depend on dict key order or on how its floats
were written.

An integer and a float of equal value (`2` and `2.0`) deliberately hash apart: a stage may treat
them differently, and a false cache hit is worse than a miss.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest
from core_strategies import json_values
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quant_core.hashing import canonical_json, content_hash


def test_known_answer() -> None:
    value = {"b": [1, 2.5, None, True], "a": {"y": "é", "x": -0.125}}
    expected = '{"a":{"x":-0.125,"y":"é"},"b":[1,2.5,null,true]}'.encode()
    assert canonical_json(value) == expected
    assert content_hash(value) == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_json_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": [bad]})


def _shuffled(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: _shuffled(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(json_values, st.randoms(use_true_random=False))
def test_hash_is_stable_under_dict_key_order(value: Any, rnd: random.Random) -> None:
    assert canonical_json(_shuffled(value, rnd)) == canonical_json(value)
    assert content_hash(_shuffled(value, rnd)) == content_hash(value)


def _spellings(x: float) -> list[str]:
    """Ways a program or a person may write the same float in JSON (as a float: with a point or an
    exponent, or a JSON parser reads an integer)."""
    spellings = [repr(x), f"{x:.17g}", f"{x:.17e}", f"{x:.25e}", f"{x:.17E}"]
    if "e" not in repr(x) and "." in repr(x):
        spellings.append(repr(x) + "000")
    return [s for s in spellings if any(c in s for c in ".eE")]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_hash_is_stable_under_float_formatting(x: float) -> None:
    hashes = {content_hash(json.loads(f'{{"v":[{text}]}}')) for text in _spellings(x)}
    assert hashes == {content_hash({"v": [x]})}


def test_float_spellings_known_answer() -> None:
    assert len({content_hash(json.loads(t)) for t in ("0.1", "0.10", "1e-1", "1.000E-01")}) == 1
    assert content_hash(2) != content_hash(2.0)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_written_in_their_shortest_exact_form(x: float) -> None:
    # The spelling tests above go through json.loads first; this pins what canonical_json writes,
    # so a lossy format (say %.6g) that collapses distinct values would fail here.
    assert canonical_json([x]) == f"[{x!r}]".encode()


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_distinct_floats_hash_differently(a: float, b: float) -> None:
    assume(a != b or str(a) != str(b))  # 0.0 and -0.0 are kept apart on purpose
    assert content_hash(a) != content_hash(b)


def test_canonical_json_known_answer() -> None:
    assert canonical_json({"b": [1, 2.5, "é"], "a": None}) == '{"a":null,"b":[1,2.5,"é"]}'.encode()
    assert content_hash({"a": 1}) == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
