"""Shared fixtures of the stage tests: an SDK on a fresh QuantHome and small hand-built markets
written to tmp files (candidates JSON + returns CSV/Parquet), as a user would give them.

The markets are built from a seeded generator, so every number a test asserts is reproducible.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from quant_core import QuantSDK


@dataclass(frozen=True)
class Market:
    """A hand-built market: candidate objects, a wide returns matrix (UTC dates x symbols) and
    `planted`: what was put in it on purpose (e.g. `{"winner": symbol}`), for the assertions."""

    candidates: list[dict[str, Any]]
    returns: pd.DataFrame
    planted: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MarketFiles:
    candidates_path: str
    returns_path: str

    @property
    def params(self) -> dict[str, str]:
        """The source params of `selection.ingestion` / `discovery.universe` for these files."""
        return {"candidates_path": self.candidates_path, "returns_path": self.returns_path}


def daily_dates(n_days: int, start: str = "2023-01-02") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n_days, freq="D", tz="UTC", name="date")


def candidate(symbol: str, **fields: Any) -> dict[str, Any]:
    """A candidate object with the usual fields; `fields` override them."""
    record: dict[str, Any] = {
        "symbol": symbol,
        "asset_class": "crypto",
        "sector": "test",
        "direction": "long",
        "value_traded": 5e7,
    }
    record.update(fields)
    return record


def write_market_files(
    folder: Path, market: Market, *, fmt: str = "csv", name: str = "market", column_order: Sequence[str] | None = None
) -> MarketFiles:
    """Write `market` as `<name>.candidates.json` and `<name>.returns.<fmt>` under `folder`.

    `column_order` writes the returns columns in that order (the contract sorts them back)."""
    folder.mkdir(parents=True, exist_ok=True)
    candidates_path = folder / f"{name}.candidates.json"
    candidates_path.write_text(json.dumps(market.candidates, indent=1), encoding="utf-8")
    frame = market.returns if column_order is None else market.returns.loc[:, list(column_order)]
    returns_path = folder / f"{name}.returns.{fmt}"
    if fmt == "csv":
        frame.to_csv(returns_path, index_label="date", float_format="%.17g")
    elif fmt == "parquet":
        frame.to_parquet(returns_path)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return MarketFiles(str(candidates_path), str(returns_path))


@pytest.fixture
def sdk(tmp_path: Path) -> QuantSDK:
    """An SDK on its own QuantHome: nothing cached, no user profiles."""
    return QuantSDK(home=tmp_path / "home")


@dataclass(frozen=True)
class MarketKit:
    """Builders for hand-made markets (tests cannot import this module: importlib mode)."""

    folder: Path
    Market: type[Market] = Market

    @staticmethod
    def candidate(symbol: str, **fields: Any) -> dict[str, Any]:
        return candidate(symbol, **fields)

    @staticmethod
    def dates(n_days: int, start: str = "2023-01-02") -> pd.DatetimeIndex:
        return daily_dates(n_days, start)

    def write(self, market: Market, **options: Any) -> MarketFiles:
        """`write(market, fmt="csv", name="market", column_order=None) -> MarketFiles`."""
        return write_market_files(self.folder, market, **options)


@pytest.fixture
def kit(tmp_path: Path) -> MarketKit:
    return MarketKit(tmp_path / "data")


#: Block A and block B interleave in symbol order, so clusters cannot come from column order.
BLOCK_A = ("BINANCE:ALPHAUSDT", "BINANCE:CHARLIEUSDT", "BINANCE:ECHOUSDT")
BLOCK_B = ("BINANCE:BRAVOUSDT", "BINANCE:DELTAUSDT", "BINANCE:FOXTROTUSDT")


@pytest.fixture
def two_block_market() -> Market:
    """Two blocks of three assets: each asset is its block's factor (2% a day) plus 0.4% own
    noise, so correlation is about 0.96 within a block and about 0 across blocks."""
    rng = np.random.default_rng(20240101)
    n_days = 300
    factors = rng.normal(0.0, 0.02, (n_days, 2))
    columns = {}
    for block, symbols in enumerate((BLOCK_A, BLOCK_B)):
        for symbol in symbols:
            columns[symbol] = factors[:, block] + rng.normal(0.0, 0.004, n_days)
    returns = pd.DataFrame(columns, index=daily_dates(n_days))
    return Market([candidate(s) for s in sorted(columns)], returns, {"blocks": (list(BLOCK_A), list(BLOCK_B))})


PLANTED_WINNER = "BINANCE:WINUSDT"
PLANTED_ILLIQUID = "BINANCE:ILLQUSDT"
NOISE_SYMBOLS = tuple(f"BINANCE:N{i}USDT" for i in range(8))


def fractional_gaussian_noise(rng: np.random.Generator, n_days: int, hurst: float) -> np.ndarray:
    """Unit-variance fractional Gaussian noise (Mandelbrot & Van Ness 1968) by the Cholesky
    factor of its autocovariance 0.5 (|k+1|^2H - 2|k|^2H + |k-1|^2H): persistent for H > 0.5."""
    lags = np.abs(np.subtract.outer(np.arange(n_days), np.arange(n_days))).astype(float)
    covariance = 0.5 * ((lags + 1) ** (2 * hurst) - 2 * lags ** (2 * hurst) + np.abs(lags - 1) ** (2 * hurst))
    return np.linalg.cholesky(covariance) @ rng.standard_normal(n_days)


@pytest.fixture
def planted_market() -> Market:
    """Eight noise assets (0% drift, 3% daily volatility, i.i.d.), one planted winner (0.4% a
    day of drift, 1% volatility, fractional Gaussian noise with H = 0.85: high momentum, low
    volatility, persistent, and the most liquid) and one illiquid asset (1,000 USD a day)."""
    rng = np.random.default_rng(7)
    n_days = 400
    columns = {symbol: rng.normal(0.0, 0.03, n_days) for symbol in (*NOISE_SYMBOLS, PLANTED_ILLIQUID)}
    columns[PLANTED_WINNER] = 0.004 + 0.01 * fractional_gaussian_noise(rng, n_days, 0.85)
    returns = pd.DataFrame(columns, index=daily_dates(n_days))
    traded = {PLANTED_WINNER: 1e9, PLANTED_ILLIQUID: 1e3}
    candidates = [
        candidate(symbol, value_traded=traded.get(symbol, 1e7 * (1 + i)))
        for i, symbol in enumerate(sorted(columns))
    ]
    return Market(candidates, returns, {"winner": PLANTED_WINNER, "illiquid": PLANTED_ILLIQUID})
