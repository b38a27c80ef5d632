"""The type tests behind every kernel's parameter checks, in one place.

`bool` is an `int` to Python but never a count or a threshold here, and numpy scalars (what a
DataFrame hands back) are as good as Python numbers.
"""

from __future__ import annotations

import math

import numpy as np


def is_int(value: object) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A real number (Python or numpy), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    return is_number(value) and math.isfinite(value)
