"""Synthetic market: determinism, contracts, calendars, structure and the planted roles."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from quant_core.errors import ParamValidationError
from quant_stages.data.candidates import validate_candidates
from quant_stages.data.returns import periods_per_year, validate_returns
from quant_stages.data.synthetic import KNOWN_ASSET_CLASSES, SyntheticMarket, generate_market
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import kurtosis


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return generate_market()


@pytest.fixture(scope="module")
def metadata(market: SyntheticMarket) -> pd.DataFrame:
    return pd.DataFrame(market.candidates).set_index("symbol")


def _per_asset(returns: pd.DataFrame, statistic) -> pd.Series:
    return pd.Series({s: statistic(returns[s].dropna().to_numpy()) for s in returns.columns})


def test_same_seed_same_market_bitwise(market: SyntheticMarket) -> None:
    again = generate_market()
    assert again.candidates == market.candidates
    pd.testing.assert_frame_equal(again.returns, market.returns)
    assert again.returns.to_numpy().tobytes() == market.returns.to_numpy().tobytes()


def test_different_seeds_differ(market: SyntheticMarket) -> None:
    other = generate_market(seed=8)
    assert [c["symbol"] for c in other.candidates] != [c["symbol"] for c in market.candidates]
    assert not np.allclose(other.returns.to_numpy()[:, :5], market.returns.to_numpy()[:, :5], equal_nan=True)


def test_default_size_follows_both_contracts(market: SyntheticMarket) -> None:
    returns = market.returns
    assert returns.shape == (1461, 200)
    pd.testing.assert_frame_equal(validate_returns(returns, "synthetic"), returns)
    candidates = validate_candidates(market.candidates, "synthetic")
    assert [c.symbol for c in candidates] == list(returns.columns)
    assert returns.index[0] == pd.Timestamp("2021-01-01", tz="UTC")
    assert (returns.index.to_series().diff().dropna() == pd.Timedelta(days=1)).all()
    assert np.nanmax(np.abs(returns.to_numpy())) < 0.5  # well inside |r| <= 1


def test_candidate_metadata_is_complete(market: SyntheticMarket) -> None:
    required = (
        "symbol", "name", "exchange", "asset_class", "sector", "identity", "direction", "value_traded",
    )  # fmt: skip
    for candidate in market.candidates:
        assert all(candidate[key] not in (None, "") for key in required), candidate
        assert candidate["symbol"].split(":")[0] == candidate["exchange"]
        assert candidate["direction"] == "long"
    identities = [c["identity"] for c in market.candidates]
    assert len(set(identities)) == len(identities)


def test_symbols_look_real(metadata: pd.DataFrame) -> None:
    patterns = {"crypto": r"BINANCE:[A-Z]{3,5}USDT", "equity": r"(NASDAQ:[A-Z]{4}|NYSE:[A-Z]{3})"}
    for symbol, asset_class in metadata["asset_class"].items():
        assert re.fullmatch(patterns[asset_class], symbol), symbol
    assert Counter(metadata["asset_class"]) == {"crypto": 100, "equity": 100}
    assert set(metadata["exchange"]) == {"BINANCE", "NASDAQ", "NYSE"}


def test_calendars(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    returns = market.returns
    listed = metadata["synthetic_role"] != "short_history"
    equities = metadata.index[(metadata["asset_class"] == "equity") & listed]
    crypto = metadata.index[(metadata["asset_class"] == "crypto") & listed]
    weekend = np.asarray(returns.index.day_of_week) >= 5
    assert returns.loc[weekend, equities].isna().all().all()
    assert returns.loc[~weekend, equities].notna().mean().mean() > 0.98  # only a few holidays
    assert returns.loc["2021-01-01", equities].isna().all()  # New Year's Day, a Friday
    assert returns[crypto].notna().all().all()
    periods = periods_per_year(returns)
    assert (periods[equities] == 252).all() and (periods[crypto] == 365).all()


def test_sectors_are_recoverable_from_correlation(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    structured = metadata.index[metadata["synthetic_role"].isin(["normal", "trend"])]
    returns = market.returns[structured]
    weekdays = returns[np.asarray(returns.index.day_of_week) < 5].dropna()
    correlation = np.corrcoef(weekdays.to_numpy(), rowvar=False)
    sector = (metadata.loc[structured, "asset_class"] + "/" + metadata.loc[structured, "sector"]).to_numpy()
    same = sector[:, None] == sector[None, :]
    off_diagonal = ~np.eye(len(sector), dtype=bool)
    within, across = correlation[same & off_diagonal].mean(), correlation[~same].mean()
    assert within > 0.45 and across < 0.25 and within - across > 0.3

    distance = np.sqrt(np.clip(0.5 * (1.0 - correlation), 0.0, None))
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    labels = fcluster(tree, t=len(set(sector)), criterion="maxclust")
    purity = sum(Counter(sector[labels == k]).most_common(1)[0][1] for k in set(labels)) / len(labels)
    assert purity >= 0.95


def test_planted_roles_are_present(market: SyntheticMarket) -> None:
    counts = Counter(market.roles().values())
    assert counts == {"normal": 174, "trend": 8, "illiquid": 6, "erratic": 6, "short_history": 6}
    assert market.symbols_with_role("illiquid") == sorted(market.symbols_with_role("illiquid"))
    with pytest.raises(ParamValidationError):
        market.symbols_with_role("junk")


def test_illiquid_assets_trade_tiny_value(metadata: pd.DataFrame) -> None:
    value = metadata["value_traded"]
    illiquid = metadata["synthetic_role"] == "illiquid"
    assert value[illiquid].max() <= 3e4
    assert value[~illiquid].min() > 100 * value[illiquid].max()


def test_short_history_assets_list_late(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    first_valid = market.returns.apply(lambda s: s.first_valid_index())
    short = metadata.index[metadata["synthetic_role"] == "short_history"]
    cutoff = market.returns.index[int(0.85 * len(market.returns))]
    assert (first_valid[short] >= cutoff).all()
    assert (first_valid.drop(short) <= pd.Timestamp("2021-01-05", tz="UTC")).all()
    for symbol in short:
        assert metadata.loc[symbol, "listed_since"] == first_valid[symbol].date().isoformat()
    assert (metadata.drop(short)["listed_since"] < "2021-01-01").all()


def test_erratic_assets_have_extreme_kurtosis_and_no_factor(
    market: SyntheticMarket, metadata: pd.DataFrame
) -> None:
    excess_kurtosis = _per_asset(market.returns, kurtosis)
    role = metadata["synthetic_role"]
    erratic, normal = excess_kurtosis[role == "erratic"], excess_kurtosis[role == "normal"]
    assert erratic.min() > 50
    assert erratic.min() > 1.5 * normal.max()
    assert 1.0 < normal.median() < 10.0  # fat tails, but not erratic
    weekdays = market.returns[np.asarray(market.returns.index.day_of_week) < 5]
    others = metadata.index[role.isin(["normal", "trend"])]
    both = weekdays[list(erratic.index) + list(others)].dropna().to_numpy()
    correlation = np.corrcoef(both, rowvar=False)[: len(erratic), len(erratic) :]
    assert np.abs(correlation).max() < 0.2


def test_trend_assets_drift_up_persistently(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    returns, role = market.returns, metadata["synthetic_role"]
    periods = periods_per_year(returns)
    sharpe = returns.mean() / returns.std() * np.sqrt(periods)
    autocorrelation = _per_asset(returns, lambda x: np.corrcoef(x[:-1], x[1:])[0, 1])
    assert sharpe[role == "trend"].min() > 1.0
    assert sharpe[role == "trend"].mean() > sharpe[role == "normal"].mean() + 1.5
    assert autocorrelation[role == "trend"].mean() > 0.05
    assert abs(autocorrelation[role == "normal"].mean()) < 0.02


def test_volatility_clusters(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    normal = metadata.index[metadata["synthetic_role"] == "normal"]
    absolute_autocorrelation = _per_asset(
        market.returns[normal], lambda x: np.corrcoef(np.abs(x[:-1]), np.abs(x[1:]))[0, 1]
    )
    assert absolute_autocorrelation.mean() > 0.05


def test_every_asset_class_has_its_calendar_and_shape() -> None:
    market = generate_market(seed=3, n_assets=50, n_days=120, asset_classes=KNOWN_ASSET_CLASSES)
    validate_returns(market.returns, "synthetic")
    validate_candidates(market.candidates, "synthetic")
    metadata = pd.DataFrame(market.candidates).set_index("symbol")
    assert Counter(metadata["asset_class"]) == dict.fromkeys(KNOWN_ASSET_CLASSES, 10)
    shapes = {"etf": r"AMEX:[A-Z]{3}", "fx": r"FX:[A-Z]{3}USD", "future": r"CME:[A-Z]{2,3}1"}
    for symbol, asset_class in metadata["asset_class"].items():
        if asset_class in shapes:
            assert re.fullmatch(shapes[asset_class], symbol), symbol
    weekend = np.asarray(market.returns.index.day_of_week) >= 5
    for asset_class in KNOWN_ASSET_CLASSES:
        members = metadata.index[metadata["asset_class"] == asset_class]
        traded_weekends = market.returns.loc[weekend, members].notna().any().any()
        assert traded_weekends == (asset_class == "crypto")


def test_smallest_market_has_every_role() -> None:
    market = generate_market(n_assets=10, n_days=60)
    assert Counter(market.roles().values()) == {
        "normal": 6, "trend": 1, "illiquid": 1, "erratic": 1, "short_history": 1,
    }  # fmt: skip
    validate_returns(market.returns, "synthetic")
    assert market.returns.shape == (60, 10)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n_assets": 9}, "n_assets"),
        ({"n_assets": 10.0}, "n_assets"),
        ({"n_days": 59}, "n_days"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"asset_classes": ("crypto", "stocks")}, "asset_classes"),
        ({"asset_classes": ("crypto", "crypto")}, "asset_classes"),
        ({"asset_classes": ()}, "asset_classes"),
        ({"asset_classes": "crypto"}, "asset_classes"),
        ({"start": "someday"}, "start"),
        ({"start": "2021-01-01T12:00"}, "start"),
    ],
)
def test_bad_parameters(kwargs: dict, param: str) -> None:
    with pytest.raises(ParamValidationError) as info:
        generate_market(**kwargs)
    assert info.value.param == param and param in str(info.value)


@pytest.mark.parametrize("phi", [0.0, 0.25, 0.985, 0.999])
def test_ar1_filter_matches_the_recursion(phi: float) -> None:
    from quant_stages.data.synthetic import _ar1_filter

    shocks = np.random.default_rng(0).standard_normal((1500, 3))
    before = np.array([0.5, -1.0, 2.0])
    expected = np.empty_like(shocks)
    previous = before
    for t in range(len(shocks)):  # the textbook recursion, day by day
        previous = phi * previous + shocks[t]
        expected[t] = previous
    np.testing.assert_allclose(_ar1_filter(shocks, phi, before), expected, rtol=0, atol=1e-12)
    assert _ar1_filter(np.array([[1.0], [0.0], [0.0]]), 0.5)[:, 0].tolist() == [1.0, 0.5, 0.25]
