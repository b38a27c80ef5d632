"""JSON has no NaN or infinity: metrics that are undefined (no losing day for Sortino, say) are
written as null."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = json_safe(value)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            out[key] = value
        elif isinstance(value, int):
            out[key] = int(value)
        else:
            number = float(value)
            out[key] = number if math.isfinite(number) else None
    return out
