"""The `--json` output: exactly one JSON document on stdout, nothing else."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def json_safe(value: Any) -> Any:
    """Strict JSON: NaN and infinities (a metric with no data) become null instead of the
    non-standard `NaN` tokens that `json.dumps` would write and other parsers reject."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(document: Any) -> str:
    return json.dumps(json_safe(document), indent=2, ensure_ascii=False, allow_nan=False)


def write_json(document: Any) -> None:
    sys.stdout.write(dumps(document) + "\n")
    sys.stdout.flush()
