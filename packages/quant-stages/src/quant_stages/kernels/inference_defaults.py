"""Default probability mapping and weights of the MPS score (light: no numerical imports, so
stage parameter models can use them)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: Method per feature for a long-biased momentum selection. Persistence (Hurst above 0.5),
#: trend efficiency, momentum, positive skew and liquidity are rewarded; volatility, entropy
#: (noise-like paths), fat tails and expected shortfall are penalised.
DEFAULT_METHODS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "momentum": "rank",
        "volatility": "inverse_rank",
        "entropy": "inverse_rank",
        "efficiency": "rank",
        "hurst": "rank",
        "skew": "rank",
        "kurtosis": "inverse_rank",
        "cvar": "inverse_rank",
        "liquidity": "rank",
    }
)

#: Momentum carries the most weight; the path-quality and risk features refine it; the
#: higher-moment features, noisy on a year of daily data, weigh least.
DEFAULT_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "momentum": 1.0,
        "volatility": 0.5,
        "entropy": 0.5,
        "efficiency": 0.5,
        "hurst": 0.5,
        "skew": 0.25,
        "kurtosis": 0.25,
        "cvar": 0.5,
        "liquidity": 0.5,
    }
)
