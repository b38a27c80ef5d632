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


#: roles whose assets trade the whole sample
WHOLE_SAMPLE = ("normal", "trend", "illiquid", "erratic")


def test_calendars(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    returns = market.returns
    listed = metadata["synthetic_role"].isin(WHOLE_SAMPLE)
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
    """Within a class, sectors correlate more than the class does as a whole, enough for a
    hierarchical clustering of the equities to find them."""
    for asset_class, purity_floor in (("equity", 0.9), ("crypto", 0.6)):
        members = metadata.index[metadata["synthetic_role"].isin(["normal", "trend"]) & (metadata["asset_class"] == asset_class)]
        returns = market.returns[members].dropna()
        correlation = np.corrcoef(returns.to_numpy(), rowvar=False)
        sector = metadata.loc[members, "sector"].to_numpy()
        same = sector[:, None] == sector[None, :]
        off_diagonal = ~np.eye(len(sector), dtype=bool)
        within, across = correlation[same & off_diagonal].mean(), correlation[~same].mean()
        assert within - across > 0.1, asset_class

        distance = np.sqrt(np.clip(0.5 * (1.0 - correlation), 0.0, None))
        np.fill_diagonal(distance, 0.0)
        tree = linkage(squareform(distance, checks=False), method="ward")
        labels = fcluster(tree, t=len(set(sector)), criterion="maxclust")
        purity = sum(Counter(sector[labels == k]).most_common(1)[0][1] for k in set(labels)) / len(labels)
        assert purity >= purity_floor, (asset_class, purity)


def test_planted_roles_are_present(market: SyntheticMarket) -> None:
    counts = Counter(market.roles().values())
    assert counts == {
        "normal": 154, "trend": 8, "illiquid": 6, "erratic": 6, "short_history": 6, "new_listing": 10, "delisted": 10,
    }  # fmt: skip
    assert market.symbols_with_role("illiquid") == sorted(market.symbols_with_role("illiquid"))
    with pytest.raises(ParamValidationError):
        market.symbols_with_role("junk")


def test_illiquid_assets_trade_tiny_value(metadata: pd.DataFrame) -> None:
    value = metadata["value_traded"]
    illiquid = metadata["synthetic_role"] == "illiquid"
    assert value[illiquid].max() <= 3e4
    assert value[~illiquid].min() > 100 * value[illiquid].max()


def test_listings_happen_during_the_sample(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    first_valid = market.returns.apply(lambda s: s.first_valid_index())
    role = metadata["synthetic_role"]
    dates = market.returns.index
    short, new = metadata.index[role == "short_history"], metadata.index[role == "new_listing"]
    assert (first_valid[short] >= dates[int(0.85 * len(dates))]).all()
    assert (first_valid[new] >= dates[int(0.10 * len(dates))]).all()
    assert (first_valid[new] < dates[int(0.75 * len(dates))]).all()
    others = first_valid.drop([*short, *new])
    assert (others <= pd.Timestamp("2021-01-05", tz="UTC")).all()
    for symbol in [*short, *new]:
        assert metadata.loc[symbol, "listed_since"] == first_valid[symbol].date().isoformat()
    assert (metadata.loc[others.index, "listed_since"] < "2021-01-01").all()


def test_delisted_assets_slide_then_stop_trading_for_good(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    returns = market.returns
    last_valid = returns.apply(lambda s: s.last_valid_index())
    delisted = metadata.index[metadata["synthetic_role"] == "delisted"]
    dates = returns.index
    assert (last_valid[delisted] >= dates[int(0.3 * len(dates))]).all()
    assert (last_valid[delisted] < dates[int(0.9 * len(dates))]).all()
    assert (last_valid.drop(delisted) >= dates[-4]).all()  # every other asset trades to the end
    slides = []
    for symbol in delisted:
        assert returns.loc[last_valid[symbol] :, symbol].iloc[1:].isna().all()
        quarter = returns.loc[last_valid[symbol] - pd.Timedelta(days=62) : last_valid[symbol], symbol].dropna()
        slides.append(np.log1p(quarter).sum())
    assert np.median(slides) < -0.3  # the quarter before the delisting is a slide (-0.6 to -0.9 in drift)


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


def test_volatility_clusters(market: SyntheticMarket, metadata: pd.DataFrame) -> None:
    normal = metadata.index[metadata["synthetic_role"] == "normal"]
    absolute_autocorrelation = _per_asset(
        market.returns[normal], lambda x: np.corrcoef(np.abs(x[:-1]), np.abs(x[1:]))[0, 1]
    )
    assert absolute_autocorrelation.mean() > 0.05


# -- stylised facts, on a century of daily data so that sampling noise does not decide -------


@pytest.fixture(scope="module")
def century() -> tuple[pd.DataFrame, pd.DataFrame]:
    market = generate_market(seed=1, n_assets=80, n_days=36_500)
    return market.returns, pd.DataFrame(market.candidates).set_index("symbol")


def class_index(century, asset_class: str) -> tuple[pd.DataFrame, pd.Series, int]:
    """The class's normal and trend assets, their equal-weighted index, and its periods a year."""
    returns, metadata = century
    role = metadata["synthetic_role"]
    members = metadata.index[role.isin(["normal", "trend"]) & (metadata["asset_class"] == asset_class)]
    assets = returns[members].dropna(how="all")
    return assets, assets.mean(axis=1), 365 if asset_class == "crypto" else 252


@pytest.mark.parametrize(
    ("asset_class", "index_vol", "index_sharpe", "asset_vol", "correlation"),
    [
        # S&P 500-like: vol 15-20%, Sharpe 0.3-0.45; single stocks 25-40%; pairs 0.2-0.35
        ("equity", (0.13, 0.22), (0.2, 0.8), (0.25, 0.45), (0.15, 0.4)),
        # a crypto market index: vol 60-80%, Sharpe about 0.5; altcoins 70-120%, one strong factor
        ("crypto", (0.5, 0.9), (0.15, 1.0), (0.65, 1.2), (0.35, 0.7)),
    ],
)
def test_index_volatility_sharpe_and_correlation_are_in_the_published_ranges(
    century, asset_class, index_vol, index_sharpe, asset_vol, correlation
) -> None:
    assets, index, periods = class_index(century, asset_class)
    assert index_vol[0] < index.std() * np.sqrt(periods) < index_vol[1]
    assert index_sharpe[0] < index.mean() / index.std() * np.sqrt(periods) < index_sharpe[1]
    assert asset_vol[0] < (assets.std() * np.sqrt(periods)).median() < asset_vol[1]
    pairs = np.corrcoef(assets.dropna().to_numpy(), rowvar=False)[np.triu_indices(assets.shape[1], 1)]
    assert correlation[0] < pairs.mean() < correlation[1]


@pytest.mark.parametrize("asset_class", ["equity", "crypto"])
def test_returns_have_fat_tails_clustered_volatility_and_no_linear_autocorrelation(century, asset_class) -> None:
    assets, index, _ = class_index(century, asset_class)
    assert kurtosis(index) > 2.0  # a normal distribution has 0
    assert np.median([kurtosis(assets[s].dropna()) for s in assets.columns]) > 1.5
    absolute = index.abs()
    assert np.mean([absolute.autocorr(lag) for lag in range(1, 21)]) > 0.05  # volatility clusters
    assert abs(index.autocorr(1)) < 0.05  # but returns themselves are not predictable


def test_equity_volatility_rises_after_falls(century) -> None:
    """The leverage effect: today's index return is negatively correlated with the variance of
    the next five days."""
    _, index, _ = class_index(century, "equity")
    future_variance = (index**2).rolling(5).sum().shift(-5)
    assert index.corr(future_variance) < -0.02


def test_trend_assets_earn_a_realistic_alpha(century) -> None:
    """Trend assets beat the others by a plausible margin (an information ratio of 0.3-0.5), not
    by the Sharpe ratios of 2 and more an earlier version planted."""
    returns, metadata = century
    role, periods = metadata["synthetic_role"], periods_per_year(returns)
    sharpe = returns.mean() / returns.std() * np.sqrt(periods)
    gap = sharpe[role == "trend"].mean() - sharpe[role == "normal"].mean()
    assert 0.1 < gap < 0.7
    assert sharpe[role == "trend"].max() < 1.5


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
        "normal": 4, "trend": 1, "illiquid": 1, "erratic": 1, "short_history": 1, "new_listing": 1, "delisted": 1,
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
