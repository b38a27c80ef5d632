"""The embedded default dataset: a deterministic synthetic market with realistic structure.

`generate_market(seed)` returns candidates (JSON-ready dicts) and a wide returns matrix that follow
the contracts of `quant_stages.data.candidates` and `quant_stages.data.returns`, so every stage
can run, be tested and be demonstrated without any download. Same seed and parameters give
bitwise identical output; everything is drawn from one `numpy.random.default_rng(seed)`.

The model, per asset i of sector s in asset class c, in log-return terms:

    x_it = mu_i + sigma_i * (a_i M_t + b_i S_st + e_i E_it)

- `M` is one market factor, `S` one factor per sector (sectors nested in classes), `E` the
  idiosyncratic noise; each is unit-variance Student-t (nu = 5, fat tails) times a stochastic
  volatility multiplier exp(h_t - tau^2), h an AR(1) in log-volatility (Taylor, 1986, "Modelling
  Financial Time Series"). That gives the volatility clustering of a GARCH(1,1) and, unlike the
  GARCH recursion, is computed for all assets at once as a linear filter (no loop over days).
- Loadings split each asset's variance between market, sector and own noise (about
  10-35% / 30-45% / the rest), so correlation is highest within a sector and hierarchical
  clustering on correlation distance recovers the sectors.
- Returns are `expm1(B tanh(x / B))` with B = 0.4: simple returns, soft-limited to about
  -33%..+49% a day, far inside the contract's |r| <= 1.

Calendars: the index is every calendar day (UTC). Crypto trades every day; the other classes
trade on weekdays only, except 1 January, 4 July and 25 December, and are NaN otherwise.

Planted roles (`candidate["synthetic_role"]`), so that tests and docs can check the policy:
- `trend`: persistent positive drift (0.08-0.14 sigma a day) and positively autocorrelated
  noise (AR(1), phi = 0.25): what momentum, efficiency-ratio and Hurst features should find;
- `illiquid`: value traded of 1,000-30,000 USD a day, below any sensible liquidity floor;
- `erratic`: no factor exposure, small noise plus rare large jumps: excess kurtosis far above
  the others, noise-like;
- `short_history`: NaN before a listing late in the sample (the last 7-15% of the days);
- `normal`: everything else (drift ~ N(0.01, 0.02) sigma a day: no reliable trend).
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
    """How one asset class looks in the synthetic market."""

    exchanges: tuple[tuple[str, tuple[int, ...]], ...]  # (exchange, possible ticker lengths)
    quote_suffix: str  # appended to the identity to form the ticker (BTC -> BTCUSDT)
    seven_day: bool
    daily_vol: float  # median daily volatility of the class
    market_share: float  # share of variance from the market factor
    sector_share: float  # share of variance from the sector factor
    sectors: tuple[str, ...]
    median_value_traded: float  # USD a day
    name_pattern: str  # formatted with identity, Identity (title case), sector, suffix
    name_suffixes: tuple[str, ...] = ("",)


ASSET_CLASS_PROFILES: dict[str, AssetClassProfile] = {
    "crypto": AssetClassProfile(
        exchanges=(("BINANCE", (3, 4, 5)),),
        quote_suffix="USDT",
        seven_day=True,
        daily_vol=0.045,
        market_share=0.35,
        sector_share=0.30,
        sectors=("layer1", "defi", "exchange", "meme", "infrastructure"),
        median_value_traded=4e7,
        name_pattern="{Identity} {suffix}",
        name_suffixes=("Network", "Protocol", "Token", "Chain", "Finance"),
    ),
    "equity": AssetClassProfile(
        exchanges=(("NASDAQ", (4,)), ("NYSE", (3,))),
        quote_suffix="",
        seven_day=False,
        daily_vol=0.018,
        market_share=0.25,
        sector_share=0.35,
        sectors=("technology", "financials", "healthcare", "energy", "consumer", "industrials"),
        median_value_traded=1.5e8,
        name_pattern="{Identity} {suffix}",
        name_suffixes=("Inc.", "Corp.", "Holdings", "Group", "Technologies"),
    ),
    "etf": AssetClassProfile(
        exchanges=(("AMEX", (3,)),),
        quote_suffix="",
        seven_day=False,
        daily_vol=0.010,
        market_share=0.35,
        sector_share=0.40,
        sectors=("equity_index", "fixed_income", "commodities", "real_estate"),
        median_value_traded=8e7,
        name_pattern="{identity} {Sector} ETF",
    ),
    "fx": AssetClassProfile(
        exchanges=(("FX", (3,)),),
        quote_suffix="USD",
        seven_day=False,
        daily_vol=0.006,
        market_share=0.10,
        sector_share=0.45,
        sectors=("g10", "emerging"),
        median_value_traded=2e9,
        name_pattern="{identity} / US Dollar",
    ),
    "future": AssetClassProfile(
        exchanges=(("CME", (2, 3)),),
        quote_suffix="1",
        seven_day=False,
        daily_vol=0.015,
        market_share=0.10,
        sector_share=0.45,
        sectors=("energy", "metals", "rates", "agriculture"),
        median_value_traded=1e9,
        name_pattern="{identity} {Sector} Futures (continuous)",
    ),
}
KNOWN_ASSET_CLASSES = tuple(ASSET_CLASS_PROFILES)

ROLES = ("trend", "illiquid", "erratic", "short_history", "normal")
#: share of the assets given each planted role (at least one asset each)
ROLE_SHARES = {"trend": 0.04, "illiquid": 0.03, "erratic": 0.03, "short_history": 0.03}

MAX_ASSETS = 10_000
MAX_DAYS = 36_500
STUDENT_T_DOF = 5.0
VOL_PERSISTENCE = 0.985  # AR(1) coefficient of log-volatility: half-life ~ 46 days
VOL_OF_VOL = 0.50  # stationary standard deviation of log-volatility
RETURN_BOUND = 0.4  # soft limit on the daily log return
TREND_DRIFT = (0.08, 0.14)  # daily drift in units of the asset's volatility
TREND_AUTOCORRELATION = 0.25
ERRATIC_JUMP_SHARE = 0.015  # share of days with a jump
ERRATIC_NOISE, ERRATIC_JUMP = 0.1, 3.0  # noise and jump sizes in units of sigma
ILLIQUID_VALUE_TRADED = (1e3, 3e4)
SHORT_HISTORY_LISTING = (0.85, 0.93)  # listing row as a fraction of the days
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


def _volatility_multiplier(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """exp(h_t - tau^2) with h a stationary AR(1): unit mean square, clustered over time."""
    phi, tau = VOL_PERSISTENCE, VOL_OF_VOL
    shocks = rng.standard_normal(shape) * (tau * np.sqrt(1 - phi**2))
    before = rng.standard_normal(shape[1]) * tau  # h_{-1}, drawn from the stationary law
    log_vol = _ar1_filter(shocks, phi, before)
    return np.exp(log_vol - tau**2)


def _factor(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return _student_t(rng, shape) * _volatility_multiplier(rng, shape)


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

    # ---- who is who: class, sector, exchange, identity, loadings, liquidity, role
    per_class = [n_assets // len(classes) + (k < n_assets % len(classes)) for k in range(len(classes))]
    class_of = np.repeat(np.arange(len(classes)), per_class)
    sector_names: list[tuple[str, str]] = []  # (class, sector) of each sector factor
    sector_of = np.empty(n_assets, dtype=np.int64)
    exchange_of = np.empty(n_assets, dtype=object)
    identity_of = np.empty(n_assets, dtype=object)
    name_of = np.empty(n_assets, dtype=object)
    vol = np.empty(n_assets)
    market_loading = np.empty(n_assets)
    sector_loading = np.empty(n_assets)
    value_traded = np.empty(n_assets)
    taken: set[str] = set()
    for k, asset_class in enumerate(classes):  # a handful of classes, not a loop over assets
        profile = ASSET_CLASS_PROFILES[asset_class]
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
        vol[members] = profile.daily_vol * np.exp(0.25 * rng.standard_normal(count))
        market_loading[members] = np.sqrt(profile.market_share) * rng.uniform(0.8, 1.2, count)
        sector_loading[members] = np.sqrt(profile.sector_share) * rng.uniform(0.8, 1.2, count)
        value_traded[members] = profile.median_value_traded * np.exp(rng.standard_normal(count))
    own_loading = np.sqrt(np.maximum(1.0 - market_loading**2 - sector_loading**2, 0.05))
    role = _role_per_asset(rng, n_assets)
    seven_day = np.array([ASSET_CLASS_PROFILES[c].seven_day for c in classes])[class_of]

    # ---- returns: market + sector + own noise, all fat-tailed with clustered volatility
    shape = (n_days, n_assets)
    market = _factor(rng, (n_days, 1))
    sectors = _factor(rng, (n_days, len(sector_names)))
    own = _factor(rng, shape)
    drift = vol * rng.normal(0.01, 0.02, n_assets)

    is_trend = role == "trend"
    drift[is_trend] = vol[is_trend] * rng.uniform(*TREND_DRIFT, int(is_trend.sum()))
    phi = TREND_AUTOCORRELATION
    own[:, is_trend] = np.sqrt(1 - phi**2) * _ar1_filter(own[:, is_trend], phi)

    log_returns = drift + vol * (
        market_loading * market + sector_loading * sectors[:, sector_of] + own_loading * own
    )

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
    low, high = np.log10(ILLIQUID_VALUE_TRADED)
    value_traded[is_illiquid] = 10 ** rng.uniform(low, high, int(is_illiquid.sum()))

    simple_returns = np.expm1(RETURN_BOUND * np.tanh(log_returns / RETURN_BOUND))

    # ---- calendars and listings
    dates = pd.date_range(first_day, periods=n_days, freq="D", tz="UTC", name=INDEX_NAME)
    dates = pd.DatetimeIndex(dates.as_unit(TIME_UNIT), freq=None, name=INDEX_NAME)
    weekday = np.asarray(dates.day_of_week)
    holiday = np.zeros(n_days, dtype=bool)
    for month, day in WEEKDAY_HOLIDAYS:
        holiday |= (np.asarray(dates.month) == month) & (np.asarray(dates.day) == day)
    weekday_session = (weekday < 5) & ~holiday
    trades = seven_day[np.newaxis, :] | weekday_session[:, np.newaxis]

    is_short = role == "short_history"
    listing_row = np.zeros(n_assets, dtype=np.int64)
    low_row, high_row = (int(f * n_days) for f in SHORT_HISTORY_LISTING)
    listing_row[is_short] = rng.integers(low_row, high_row, int(is_short.sum()))
    trades &= np.arange(n_days)[:, np.newaxis] >= listing_row[np.newaxis, :]
    first_trade = np.argmax(trades, axis=0)
    years_listed_before = rng.uniform(0.5, 8.0, n_assets)

    values = np.where(trades, simple_returns, np.nan)

    # ---- assemble, sorted by symbol
    symbols = np.array(
        [
            f"{exchange}:{identity}{ASSET_CLASS_PROFILES[classes[k]].quote_suffix}"
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
    for i in order:  # metadata records: one dict per asset is the output format itself
        if is_short[i]:
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
