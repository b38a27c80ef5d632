"""Canonical JSON and content hashes: the basis of artifact ids and cache keys.

Canonical means: keys sorted, no whitespace, UTF-8, floats in Python's shortest round-trip form
(so `0.10` and `0.1` hash alike), no NaN or infinity (they are not JSON).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialise JSON-compatible data to canonical bytes (raises ValueError on NaN/inf)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """sha256 of the canonical JSON of `value`."""
    return sha256_hex(canonical_json(value))
