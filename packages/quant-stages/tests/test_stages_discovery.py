"""discovery.universe through the SDK: asset class, exchange, liquidity floor and top-N screens,
and selection.ingestion taking the screened pool as its candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from quant_stages.datasets import load_dataset
from quant_stages.frames import get_frame

DISCOVERY = "discovery.universe"

#: symbol -> (asset class, value traded); exchanges come from the symbols.
UNIVERSE = {
    "BINANCE:BTCUSDT": ("crypto", 9e9),
    "BINANCE:ETHUSDT": ("crypto", 4e9),
    "BINANCE:DOGEUSDT": ("crypto", 4e9),  # ties ETH: the smaller symbol ranks first
    "BINANCE:TINYUSDT": ("crypto", 2e4),
    "COINBASE:SOLUSD": ("crypto", 6e9),
    "BINANCE:MYSTERYUSDT": ("crypto", None),  # unknown liquidity
    "NASDAQ:AAPL": ("equity", 8e9),
    "NYSE:IBM": ("equity", 5e8),
    "AMEX:SPY": ("etf", 3e10),
}


@pytest.fixture
def universe_files(kit):
    rng = np.random.default_rng(5)
    dates = kit.dates(60)
    returns = pd.DataFrame({s: rng.normal(0, 0.01, len(dates)) for s in UNIVERSE}, index=dates)
    candidates = [
        kit.candidate(symbol, asset_class=asset_class, value_traded=traded)
        for symbol, (asset_class, traded) in UNIVERSE.items()
    ]
    return kit.write(kit.Market(candidates, returns), name="universe")


def screen(sdk, files, **rules):
    context = sdk.run_stage(DISCOVERY, params={**files.params, **rules}).context
    pool = [c["symbol"] for c in sdk.home.artifact_store().get_json(context.raw_pool)]
    (event,) = [e for e in context.audit_trail if e.stage_id == DISCOVERY]
    return context, pool, event


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({}, sorted(UNIVERSE)),
        ({"asset_classes": ["crypto"]}, sorted(s for s, (c, _) in UNIVERSE.items() if c == "crypto")),
        ({"asset_classes": ["equity", "etf"]}, ["AMEX:SPY", "NASDAQ:AAPL", "NYSE:IBM"]),
        ({"exchanges": ["COINBASE", "NYSE"]}, ["COINBASE:SOLUSD", "NYSE:IBM"]),
        # the floor passes at equality; unknown liquidity cannot be shown to pass it
        ({"min_value_traded": 5e8}, sorted(s for s, (_, v) in UNIVERSE.items() if v is not None and v >= 5e8)),
        ({"top_n": 3}, ["AMEX:SPY", "BINANCE:BTCUSDT", "NASDAQ:AAPL"]),
        ({"asset_classes": ["crypto"], "exchanges": ["BINANCE"], "top_n": 2}, ["BINANCE:BTCUSDT", "BINANCE:DOGEUSDT"]),
        ({"asset_classes": ["crypto"], "exchanges": ["BINANCE"], "min_value_traded": 1e5, "top_n": 10},
         ["BINANCE:BTCUSDT", "BINANCE:DOGEUSDT", "BINANCE:ETHUSDT"]),
    ],
)
def test_screens(sdk, universe_files, rules, expected):
    _, pool, event = screen(sdk, universe_files, **rules)
    assert pool == expected
    assert event.code == "screened"
    assert event.data == {"total": len(UNIVERSE), "kept": len(expected)}


def test_asset_class_filter_is_case_insensitive_on_the_data_side(sdk, kit):
    """Candidates store the class lower-cased, so a file saying `Crypto` matches `crypto`."""
    dates = kit.dates(30)
    returns = pd.DataFrame({"BINANCE:BTCUSDT": 0.01, "NYSE:IBM": 0.02}, index=dates)
    candidates = [kit.candidate("BINANCE:BTCUSDT", asset_class="Crypto"), kit.candidate("NYSE:IBM", asset_class="EQUITY")]
    _, pool, _ = screen(sdk, kit.write(kit.Market(candidates, returns)), asset_classes=["crypto"])
    assert pool == ["BINANCE:BTCUSDT"]


def test_ingestion_takes_the_screened_pool_and_reports_the_other_columns(sdk, universe_files):
    screened, pool, _ = screen(sdk, universe_files, asset_classes=["equity"])
    context = sdk.run_stage("selection.ingestion", context=screened, params=universe_files.params).context
    assert [c["symbol"] for c in sdk.home.artifact_store().get_json(context.raw_pool)] == pool
    assert list(get_frame(sdk.home.artifact_store(), context.returns).columns) == pool
    (event,) = [e for e in context.audit_trail if e.code == "reconciled"]
    assert event.data["candidates_without_returns"] == []
    assert event.data["returns_without_candidate"] == sorted(set(UNIVERSE) - set(pool))


def test_discovery_on_the_synthetic_dataset_by_class(sdk):
    context = sdk.run_stage(
        DISCOVERY, params={"dataset_params": {"n_assets": 30, "n_days": 60}, "asset_classes": ["equity"], "top_n": 5}
    ).context
    pool = sdk.home.artifact_store().get_json(context.raw_pool)
    market = load_dataset("synthetic", {"n_assets": 30, "n_days": 60}).candidates
    equities = sorted((c for c in market if c.asset_class == "equity"), key=lambda c: (-c.value_traded, c.symbol))
    assert [c["symbol"] for c in pool] == sorted(c.symbol for c in equities[:5])
