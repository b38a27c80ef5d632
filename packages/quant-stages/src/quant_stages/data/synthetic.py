"""The embedded default dataset: a deterministic synthetic market calibrated to stylised facts.

`generate_market(seed)` returns candidates (JSON-ready dicts) and a wide returns matrix that follow
the contracts of `quant_stages.data.candidates` and `quant_stages.data.returns`, so every stage
can run, be tested and be demonstrated without any download. Same seed and parameters give
bitwise identical output; everything is drawn from one `numpy.random.default_rng(seed)`.

The model, per asset i of sector s in asset class c, in log-return terms per trading day:

    x_it = d_i + m_i M_ct + s_i S_st + o_i E_it

- `M_c` is the market factor of class c, `S_s` one factor per sector (sectors nested in classes),
  `E_i` the asset's own noise. Each is a unit-variance Student-t (nu = 5) times a stochastic
  volatility multiplier exp(h_t - tau^2), h an AR(1) in log-volatility (Taylor 1986, "Modelling
  Financial Time Series"): GARCH-like volatility clustering, computed for all series at once as
  a linear filter. The market's log-volatility shock is negatively correlated with the previous
  day's market return (`leverage`, the leverage effect of Black 1976).
- m_i = beta_i x the market's daily volatility, beta_i lognormal around 1; what is left of the
  asset's variance is split between its sector (`sector_fraction`) and its own noise.
- The drift is the CAPM's plus a small alpha, with the convexity correction so that the
  *simple* returns have the intended mean: d_i = beta_i premium + alpha_i - sigma_i^2 / 2.
- Simple returns are `expm1(B tanh(x / B))` with B = 0.4: soft-limited to about -33%..+49% a day.

Calibration (annualised; targets, checked by `tests/test_data_synthetic.py` on long samples):

================  ========  ========  =========================================================
                  equity    crypto    published stylised fact it follows
================  ========  ========  =========================================================
market vol        16%       65%       S&P 500 long-run realised vol about 15-20% (Schwert 1989,
                                      "Why does stock market volatility change over time?";
                                      Dimson, Marsh & Staunton 2002, "Triumph of the Optimists");
                                      Bitcoin / crypto market index 60-80% (Liu & Tsyvinski
                                      2021, "Risks and Returns of Cryptocurrency", RFS 34)
market premium    6%        35%       US equity premium 4-7% a year arithmetic (DMS 2002): index
                                      Sharpe about 0.3-0.45; crypto market Sharpe about 0.5
                                      here, below the 2011-2020 sample of Liu & Tsyvinski (2021)
                                      on purpose (a decade that would not repeat)
asset vol         30%       90%       median single-stock volatility 25-40% (Campbell, Lettau,
                  (median)            Malkiel & Xu 2001, "Have individual stocks become more
                                      volatile?", JF 56); altcoins 70-120%
correlation       ~0.25     ~0.5      average pairwise correlation of US stocks 0.2-0.35
(average pair)                        (Pollet & Wilson 2010, "Average correlation and stock
                                      market returns", JFE 96), higher within a sector; crypto
                                      assets load heavily on one market factor (Liu, Tsyvinski
                                      & Wu 2022, "Common risk factors in cryptocurrency", JF 77)
alpha dispersion  2%        10%       no free lunch: idiosyncratic drifts small against vol
================  ========  ========  =========================================================

Fat tails, volatility clustering, no linear autocorrelation and the leverage effect are the
stylised facts of Cont (2001), "Empirical properties of asset returns: stylized facts and
statistical issues", Quantitative Finance 1. Market factors of different classes are
independent (a simplification: crypto and equities have co-moved since 2020).

Calendars: the index is every calendar day (UTC). Crypto trades every day; the other classes
trade on weekdays only, except 1 January, 4 July and 25 December, and are NaN otherwise.

Listings and delistings: `new_listing` assets start trading during the sample (10-75% of the
way in; NaN before), `short_history` ones late (in the last 7-15% of the days and 60-220 days
before the end at most), `delisted` ones stop for good
(30-90% of the way in; NaN after), after a slide: their drift turns to a loss of `decline` (log)
over the last 63 days with volatility up by half, as performance delistings do (Shumway 1997,
"The delisting bias in CRSP data", JF 52: a further -30% on average at delisting, which the
backtest charges through its `delisting_return`).

Planted roles (`candidate["synthetic_role"]`), so that tests and docs can check the policy:
- `trend`: an alpha of `trend_alpha` a year (an information ratio of about 0.3-0.5): what
  momentum and the other path features may find, at a realistic strength;
- `illiquid`: value traded of 1,000-30,000 USD a day, below any sensible liquidity floor;
- `erratic`: no factor exposure, small noise plus rare large jumps: excess kurtosis far above
  the others, noise-like;
- `short_history`, `new_listing`, `delisted`: see above;
- `normal`: everything else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from quant_core.errors import ParamValidationError

from quant_stages.kernels.checks import is_int

from quant_stages.data.returns import INDEX_NAME, TIME_UNIT


@dataclass(frozen=True)
class AssetClassProfile:
    """How one asset class looks in the synthetic market (rates and volatilities annualised)."""

    exchanges: tuple[tuple[str, tuple[int, ...]], ...]  # (exchange, possible ticker lengths)
    quote_suffix: str  # appended to the identity to form the ticker (BTC -> BTCUSDT)
    seven_day: bool
    market_vol: float  # volatility of the class's market factor
    market_premium: float  # expected simple return of the market factor
    asset_vol: float  # median volatility of one asset
    sector_fraction: float  # share of an asset's non-market variance that is its sector's
    alpha_dispersion: float  # cross-sectional standard deviation of the assets' alphas
    leverage: float  # correlation of a market return with the next log-volatility shock
    trend_alpha: tuple[float, float]  # alpha range of the `trend` assets
    decline: float  # log-price slide over the 63 days before a delisting
    sectors: tuple[str, ...]
    median_value_traded: float  # USD a day
    name_pattern: str  # formatted with identity, Identity (title case), sector, suffix
    name_suffixes: tuple[str, ...] = ("",)

    @property
    def periods_per_year(self) -> int:
        return 365 if self.seven_day else 252


ASSET_CLASS_PROFILES: dict[str, AssetClassProfile] = {
    "crypto": AssetClassProfile(
        exchanges=(("BINANCE", (3, 4, 5)),),
        quote_suffix="USDT",
        seven_day=True,
        market_vol=0.65,
        market_premium=0.35,
        asset_vol=0.90,
        sector_fraction=0.25,
        alpha_dispersion=0.10,
        leverage=-0.2,
        trend_alpha=(0.25, 0.45),
        decline=0.9,
        sectors=("layer1", "defi", "exchange", "meme", "infrastructure"),
        median_value_traded=4e7,
        name_pattern="{Identity} {suffix}",
        name_suffixes=("Network", "Protocol", "Token", "Chain", "Finance"),
    ),
    "equity": AssetClassProfile(
        exchanges=(("NASDAQ", (4,)), ("NYSE", (3,))),
        quote_suffix="",
        seven_day=False,
        market_vol=0.15,
        market_premium=0.06,
        asset_vol=0.35,
        sector_fraction=0.30,
        alpha_dispersion=0.02,
        leverage=-0.6,
        trend_alpha=(0.08, 0.14),
        decline=0.6,
        sectors=("technology", "financials", "healthcare", "energy", "consumer", "industrials"),
        median_value_traded=1.5e8,
        name_pattern="{Identity} {suffix}",
        name_suffixes=("Inc.", "Corp.", "Holdings", "Group", "Technologies"),
    ),
    "etf": AssetClassProfile(
        exchanges=(("AMEX", (3,)),),
        quote_suffix="",
        seven_day=False,
        market_vol=0.12,
        market_premium=0.04,
        asset_vol=0.16,
        sector_fraction=0.5,
        alpha_dispersion=0.01,
        leverage=-0.5,
        trend_alpha=(0.04, 0.07),
        decline=0.3,
        sectors=("equity_index", "fixed_income", "commodities", "real_estate"),
        median_value_traded=8e7,
        name_pattern="{identity} {Sector} ETF",
    ),
    "fx": AssetClassProfile(
        exchanges=(("FX", (3,)),),
        quote_suffix="USD",
        seven_day=False,
        market_vol=0.06,
        market_premium=0.0,
        asset_vol=0.09,
        sector_fraction=0.5,
        alpha_dispersion=0.01,
        leverage=0.0,
        trend_alpha=(0.03, 0.05),
        decline=0.2,
        sectors=("g10", "emerging"),
        median_value_traded=2e9,
        name_pattern="{identity} / US Dollar",
    ),
    "future": AssetClassProfile(
        exchanges=(("CME", (2, 3)),),
        quote_suffix="1",
        seven_day=False,
        market_vol=0.12,
        market_premium=0.02,
        asset_vol=0.22,
        sector_fraction=0.5,
        alpha_dispersion=0.02,
        leverage=-0.2,
        trend_alpha=(0.06, 0.10),
        decline=0.4,
        sectors=("energy", "metals", "rates", "agriculture"),
        median_value_traded=1e9,
        name_pattern="{identity} {Sector} Futures (continuous)",
    ),
}
KNOWN_ASSET_CLASSES = tuple(ASSET_CLASS_PROFILES)

ROLES = ("trend", "illiquid", "erratic", "short_history", "new_listing", "delisted", "normal")
#: share of the assets given each planted role (at least one asset each)
ROLE_SHARES = {
    "trend": 0.04, "illiquid": 0.03, "erratic": 0.03, "short_history": 0.03, "new_listing": 0.05, "delisted": 0.05,
}

MAX_ASSETS = 10_000
MAX_DAYS = 36_500
STUDENT_T_DOF = 5.0
BETA_DISPERSION = 0.2  # log-normal spread of market betas around 1
VOL_DISPERSION = 0.25  # log-normal spread of asset volatilities around the class median
MAX_MARKET_SHARE = 0.85  # of an asset's variance
#: (AR(1) coefficient, stationary sd) of log-volatility: market, sector, own noise
MARKET_VOL_PROCESS, SECTOR_VOL_PROCESS, OWN_VOL_PROCESS = (0.99, 0.5), (0.98, 0.35), (0.97, 0.4)
RETURN_BOUND = 0.4  # soft limit on the daily log return
ERRATIC_JUMP_SHARE = 0.015  # share of days with a jump
ERRATIC_NOISE, ERRATIC_JUMP = 0.1, 3.0  # noise and jump sizes in units of sigma
ILLIQUID_VALUE_TRADED = (1e3, 3e4)
#: listing of a `short_history` asset: in the last 7-15% of the days, and 60-220 days before the
#: end at most (shorter than a year of history, however long the sample)
SHORT_HISTORY_LISTING, SHORT_HISTORY_DAYS = (0.07, 0.15), (60, 220)
NEW_LISTING = (0.10, 0.75)  # listing row as a fraction of the days
DELISTING = (0.30, 0.90)  # last trading row as a fraction of the days
DECLINE_DAYS = 63
DECLINE_VOL = 1.5
WEEKDAY_HOLIDAYS = ((1, 1), (7, 4), (12, 25))


@dataclass(frozen=True, eq=False)
class SyntheticMarket:
    """Candidates (JSON-ready dicts, sorted by symbol) and the returns matrix (columns sorted)."""

    candidates: list[dict[str, Any]] = field(repr=False)
    returns: pd.DataFrame = field(repr=False)

    def roles(self) -> dict[str, str]:
        """symbol -> planted role."""
        return {c["symbol"]: c["synthetic_role"] for c in self.candidates}

    def symbols_with_role(self, role: str) -> list[str]:
        """Symbols given `role` (one of `ROLES`), sorted."""
        if role not in ROLES:
            raise ParamValidationError(
                f"unknown synthetic role {role!r}; roles are {', '.join(ROLES)}",
                param="role",
                value=role,
                rule="choice",
            )
        return [c["symbol"] for c in self.candidates if c["synthetic_role"] == role]


# --------------------------------------------------------------------------------------------
# parameters


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise ParamValidationError(
            f"{name} must be an integer in [{low}, {high}], got {value!r}",
            param=name,
            value=value,
            rule="range",
        )
    return int(value)


def _check_start(start: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ParamValidationError(
            f"start must be a date such as '2021-01-01', got {start!r}",
            param="start",
            value=start,
            rule="date",
        ) from exc
    if stamp is pd.NaT or stamp != stamp.normalize() or stamp.tz is not None:
        raise ParamValidationError(
            f"start must be a calendar date without time or time zone, got {start!r}",
            param="start",
            value=start,
            rule="date",
        )
    return stamp


def _check_asset_classes(asset_classes: Any) -> tuple[str, ...]:
    if isinstance(asset_classes, str) or not isinstance(asset_classes, Sequence):
        raise ParamValidationError(
            f"asset_classes must be a sequence of class names, got {asset_classes!r}",
            param="asset_classes",
            value=asset_classes,
            rule="type",
        )
    classes = tuple(asset_classes)
    unknown = [c for c in classes if c not in ASSET_CLASS_PROFILES]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ParamValidationError(
            f"asset_classes must be distinct names among {', '.join(KNOWN_ASSET_CLASSES)}; "
            f"got {list(classes)!r}" + (f" (unknown: {unknown!r})" if unknown else ""),
            param="asset_classes",
            value=asset_classes,
            rule="choice",
        )
    return classes


# --------------------------------------------------------------------------------------------
# building blocks


def _student_t(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-variance Student-t draws (variance of t_nu is nu / (nu - 2))."""
    return rng.standard_t(STUDENT_T_DOF, size=shape) * np.sqrt((STUDENT_T_DOF - 2) / STUDENT_T_DOF)


_MAX_BLOCK_GROWTH = 1e4


def _ar1_filter(shocks: np.ndarray, phi: float, before: np.ndarray | None = None) -> np.ndarray:
    """y_t = phi * y_{t-1} + shocks_t along axis 0, for every column at once; y_{-1} = `before`.

    Closed form per block of L days: y_{t0+k} = phi^k (phi y_{t0-1} + sum_{j<=k} phi^-j x_{t0+j}),
    a cumulative sum. L keeps phi^-L <= 1e4 so the weights stay well-conditioned; the loop is over
    blocks (a few for phi near 1), never over days. Same result as scipy.signal.lfilter([1],
    [1, -phi]) without importing scipy.signal.
    """
    n_days = shocks.shape[0]
    block = max(1, min(n_days, int(np.log(_MAX_BLOCK_GROWTH) / -np.log(phi)))) if phi > 0 else 1
    powers = phi ** np.arange(block, dtype=np.float64)
    out = np.empty_like(shocks, dtype=np.float64)
    carry = np.zeros(shocks.shape[1:]) if before is None else np.asarray(before, dtype=np.float64)
    for start in range(0, n_days, block):
        chunk = shocks[start : start + block]
        size = chunk.shape[0]
        grown = np.cumsum(chunk / powers[:size, np.newaxis], axis=0) + phi * carry
        out[start : start + size] = grown * powers[:size, np.newaxis]
        carry = out[start + size - 1]
    return out


def _volatility_multiplier(
    rng: np.random.Generator, shape: tuple[int, int], process: tuple[float, float],
    leading: np.ndarray | None = None, leverage: np.ndarray | float = 0.0,
) -> np.ndarray:
    """exp(h_t - tau^2) with h a stationary AR(1): unit mean square, clustered over time.

    With `leading` (the unit innovations the multiplier will scale) and `leverage` rho per column,
    the shock to h_t is correlated rho with leading_{t-1}: a fall raises tomorrow's volatility."""
    phi, tau = process
    scale = tau * np.sqrt(1 - phi**2)
    shocks = rng.standard_normal(shape)
    if leading is not None:
        rho = np.broadcast_to(np.asarray(leverage, dtype=np.float64), (shape[1],))
        previous = np.vstack([np.zeros((1, shape[1])), leading[:-1]])
        shocks = rho * np.clip(previous, -4.0, 4.0) + np.sqrt(1 - rho**2) * shocks
    before = rng.standard_normal(shape[1]) * tau  # h_{-1}, drawn from the stationary law
    log_vol = _ar1_filter(shocks * scale, phi, before)
    return np.exp(log_vol - tau**2)


def _factor(
    rng: np.random.Generator, shape: tuple[int, int], process: tuple[float, float], leverage: np.ndarray | float = 0.0
) -> np.ndarray:
    innovations = _student_t(rng, shape)
    return innovations * _volatility_multiplier(rng, shape, process, innovations, leverage)


_MAX_DRAW_ROUNDS = 200


def _draw_identities(
    rng: np.random.Generator, lengths: np.ndarray, taken: set[str], asset_class: str
) -> list[str]:
    """One new upper-case code per requested length, unique among themselves and `taken`.

    Codes are drawn in batches; the ones that collide are drawn again, a bounded number of times
    (a code space nearly full would otherwise never finish).
    """
    codes = np.empty(len(lengths), dtype=object)
    pending = np.arange(len(lengths))
    for _ in range(_MAX_DRAW_ROUNDS):
        if not pending.size:
            return codes.tolist()
        width = int(lengths[pending].max())
        letters = rng.integers(ord("A"), ord("Z") + 1, size=(pending.size, width), dtype=np.uint8)
        words = letters.view(f"S{width}").ravel()
        collided = []
        for slot, word, length in zip(pending, words, lengths[pending], strict=True):
            code = word[:length].decode("ascii")
            if code in taken:
                collided.append(slot)
            else:
                taken.add(code)
                codes[slot] = code
        pending = np.asarray(collided, dtype=np.int64)
    if not pending.size:
        return codes.tolist()
    raise ParamValidationError(
        f"n_assets is too large for the ticker space of asset class {asset_class!r}",
        param="n_assets",
        value=len(lengths),
        rule="range",
    )


def _role_per_asset(rng: np.random.Generator, n_assets: int) -> np.ndarray:
    counts = {role: max(1, round(share * n_assets)) for role, share in ROLE_SHARES.items()}
    labels = np.full(n_assets, "normal", dtype=object)
    order = rng.permutation(n_assets)
    position = 0
    for role, count in counts.items():
        labels[order[position : position + count]] = role
        position += count
    return labels


# --------------------------------------------------------------------------------------------
# the market


def generate_market(
    seed: int = 7,
    n_assets: int = 200,
    n_days: int = 1461,
    start: str | dt.date = "2021-01-01",
    asset_classes: Sequence[str] = ("crypto", "equity"),
) -> SyntheticMarket:
    """A deterministic synthetic market of `n_assets` over `n_days` calendar days (see module doc).

    Assets are split evenly across `asset_classes` (the first classes take the remainder), and
    within a class evenly across its sectors. Raises `ParamValidationError` for n_assets outside
    [10, 10000], n_days outside [60, 36500], an unknown or repeated asset class, or a bad start.
    """
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    n_assets = _check_int("n_assets", n_assets, 10, MAX_ASSETS)
    n_days = _check_int("n_days", n_days, 60, MAX_DAYS)
    first_day = _check_start(start)
    classes = _check_asset_classes(asset_classes)
    rng = np.random.default_rng(seed)

    # ---- who is who: class, sector, exchange, identity, exposures, liquidity, role
    per_class = [n_assets // len(classes) + (k < n_assets % len(classes)) for k in range(len(classes))]
    class_of = np.repeat(np.arange(len(classes)), per_class)
    profiles = [ASSET_CLASS_PROFILES[c] for c in classes]
    sector_names: list[tuple[str, str]] = []  # (class, sector) of each sector factor
    sector_of = np.empty(n_assets, dtype=np.int64)
    exchange_of = np.empty(n_assets, dtype=object)
    identity_of = np.empty(n_assets, dtype=object)
    name_of = np.empty(n_assets, dtype=object)
    value_traded = np.empty(n_assets)
    taken: set[str] = set()
    for k, (asset_class, profile) in enumerate(zip(classes, profiles, strict=True)):  # a handful of classes
        members = np.flatnonzero(class_of == k)
        count = len(members)
        n_sectors = len(profile.sectors)
        local_sector = rng.permutation(np.arange(count) % n_sectors)
        sector_of[members] = len(sector_names) + local_sector
        sector_names.extend((asset_class, sector) for sector in profile.sectors)

        venue = rng.integers(0, len(profile.exchanges), size=count)
        pick = rng.random(count)
        lengths = np.empty(count, dtype=np.int64)
        for v, (_, options) in enumerate(profile.exchanges):
            on_venue = venue == v
            lengths[on_venue] = np.asarray(options)[(pick[on_venue] * len(options)).astype(int)]
        exchange_of[members] = [profile.exchanges[v][0] for v in venue]
        identity_of[members] = _draw_identities(rng, lengths, taken, asset_class)
        suffixes = rng.choice(np.array(profile.name_suffixes), size=count)
        name_of[members] = [
            profile.name_pattern.format(
                identity=identity,
                Identity=identity.title(),
                Sector=profile.sectors[s].replace("_", " ").title(),
                suffix=suffix,
            )
            for identity, s, suffix in zip(identity_of[members], local_sector, suffixes, strict=True)
        ]
        value_traded[members] = profile.median_value_traded * np.exp(rng.standard_normal(count))

    def per_asset(attribute: str) -> np.ndarray:
        return np.array([getattr(p, attribute) for p in profiles])[class_of]

    periods = per_asset("periods_per_year").astype(np.float64)
    market_vol = per_asset("market_vol") / np.sqrt(periods)  # daily
    beta = np.exp(BETA_DISPERSION * rng.standard_normal(n_assets))
    market_part = beta * market_vol
    vol = per_asset("asset_vol") / np.sqrt(periods) * np.exp(VOL_DISPERSION * rng.standard_normal(n_assets))
    vol = np.maximum(vol, market_part / np.sqrt(MAX_MARKET_SHARE))
    residual = vol**2 - market_part**2
    sector_part = np.sqrt(per_asset("sector_fraction") * residual)
    own_part = np.sqrt(residual - sector_part**2)
    alpha = per_asset("alpha_dispersion") * rng.standard_normal(n_assets)
    role = _role_per_asset(rng, n_assets)
    is_trend = role == "trend"
    trend_range = per_asset("trend_alpha")
    alpha[is_trend] = rng.uniform(trend_range[is_trend, 0], trend_range[is_trend, 1])
    seven_day = per_asset("seven_day").astype(bool)

    # ---- returns: market + sector + own noise, all fat-tailed with clustered volatility
    shape = (n_days, n_assets)
    markets = _factor(rng, (n_days, len(classes)), MARKET_VOL_PROCESS, np.array([p.leverage for p in profiles]))
    sectors = _factor(rng, (n_days, len(sector_names)), SECTOR_VOL_PROCESS)
    own = _factor(rng, shape, OWN_VOL_PROCESS)
    # the drift of the simple returns is beta x premium + alpha; in log terms, less sigma^2 / 2
    drift = (beta * per_asset("market_premium") + alpha) / periods - 0.5 * vol**2
    log_returns = drift + market_part * markets[:, class_of] + sector_part * sectors[:, sector_of] + own_part * own

    is_erratic = role == "erratic"
    n_erratic = int(is_erratic.sum())
    jumps_per_asset = max(3, round(ERRATIC_JUMP_SHARE * n_days))
    jump_days = np.argsort(rng.random((n_days, n_erratic)), axis=0)[:jumps_per_asset]
    jumps = np.zeros((n_days, n_erratic))
    np.put_along_axis(jumps, jump_days, rng.standard_normal(jump_days.shape), axis=0)
    log_returns[:, is_erratic] = vol[is_erratic] * (
        ERRATIC_NOISE * rng.standard_normal((n_days, n_erratic)) + ERRATIC_JUMP * jumps
    )

    is_illiquid = role == "illiquid"
    low_value, high_value = np.log10(ILLIQUID_VALUE_TRADED)
    value_traded[is_illiquid] = 10 ** rng.uniform(low_value, high_value, int(is_illiquid.sum()))

    # ---- listings and delistings (rows as fractions of the sample)
    rows = np.arange(n_days)[:, np.newaxis]
    listing_row = np.zeros(n_assets, dtype=np.int64)
    is_short = role == "short_history"
    days_before_end = [min(days, int(share * n_days)) for days, share in zip(SHORT_HISTORY_DAYS, SHORT_HISTORY_LISTING, strict=True)]
    listing_row[is_short] = n_days - rng.integers(days_before_end[0], days_before_end[1], int(is_short.sum()))
    is_new = role == "new_listing"
    listing_row[is_new] = rng.integers(int(NEW_LISTING[0] * n_days), int(NEW_LISTING[1] * n_days), int(is_new.sum()))
    is_delisted = role == "delisted"
    last_row = np.full(n_assets, n_days - 1, dtype=np.int64)
    last_row[is_delisted] = rng.integers(int(DELISTING[0] * n_days), int(DELISTING[1] * n_days), int(is_delisted.sum()))
    sliding = is_delisted & (rows > last_row - DECLINE_DAYS) & (rows <= last_row)
    slide = np.broadcast_to(-per_asset("decline") / DECLINE_DAYS, shape)
    log_returns = np.where(sliding, DECLINE_VOL * (log_returns - drift) + slide, log_returns)

    simple_returns = np.expm1(RETURN_BOUND * np.tanh(log_returns / RETURN_BOUND))

    # ---- calendars
    dates = pd.date_range(first_day, periods=n_days, freq="D", tz="UTC", name=INDEX_NAME)
    dates = pd.DatetimeIndex(dates.as_unit(TIME_UNIT), freq=None, name=INDEX_NAME)
    weekday = np.asarray(dates.day_of_week)
    holiday = np.zeros(n_days, dtype=bool)
    for month, day in WEEKDAY_HOLIDAYS:
        holiday |= (np.asarray(dates.month) == month) & (np.asarray(dates.day) == day)
    weekday_session = (weekday < 5) & ~holiday
    trades = seven_day[np.newaxis, :] | weekday_session[:, np.newaxis]
    trades &= (rows >= listing_row[np.newaxis, :]) & (rows <= last_row[np.newaxis, :])
    first_trade = np.argmax(trades, axis=0)
    years_listed_before = rng.uniform(0.5, 8.0, n_assets)

    values = np.where(trades, simple_returns, np.nan)

    # ---- assemble, sorted by symbol
    symbols = np.array(
        [
            f"{exchange}:{identity}{profiles[k].quote_suffix}"
            for exchange, identity, k in zip(exchange_of, identity_of, class_of, strict=True)
        ]
    )
    order = np.argsort(symbols, kind="stable")
    returns = pd.DataFrame(
        np.ascontiguousarray(values[:, order]),
        index=dates,
        columns=pd.Index(symbols[order].tolist(), dtype="str"),
    )
    candidates: list[dict[str, Any]] = []
    listed_in_sample = listing_row > 0
    for i in order:  # metadata records: one dict per asset is the output format itself
        if listed_in_sample[i]:
            listed = dates[first_trade[i]].date()
        else:
            listed = (first_day - pd.Timedelta(days=round(365.25 * years_listed_before[i]))).date()
        candidates.append(
            {
                "symbol": str(symbols[i]),
                "name": str(name_of[i]),
                "exchange": str(exchange_of[i]),
                "asset_class": classes[class_of[i]],
                "sector": sector_names[sector_of[i]][1],
                "identity": str(identity_of[i]),
                "direction": "long",
                "value_traded": round(float(value_traded[i]), 2),
                "listed_since": listed.isoformat(),
                "synthetic_role": str(role[i]),
            }
        )
    return SyntheticMarket(candidates=candidates, returns=returns)
