"""Per-asset selection features of a returns matrix, vectorised over assets.

Input is a wide matrix of simple returns (rows = dates in increasing order, columns = symbols,
NaN where an asset does not trade that day or is not listed yet). Every feature of an asset is
computed on that asset's own valid observations only: each column is *compacted* (its non-NaN
values moved, in time order, to the bottom of the array, see `compact_observations`), so a weekend
gap of an equity is skipped, never read as a zero return. Features that need more observations
than an asset has are NaN for that asset.

Features (all float64, one row per symbol, sorted by symbol):

- ``momentum``: mean simple return x periods per year (arithmetic annualisation).
- ``volatility``: sample standard deviation (ddof=1) x sqrt(periods per year).
- ``entropy``: normalised permutation entropy of the return series (Bandt & Pompe 2002), see
  `permutation_entropy`.
- ``efficiency``: Kaufman efficiency ratio (Kaufman 1995) of the log price,
  |sum of log returns| / sum |log returns|, over the whole history or the last
  ``efficiency_window`` observations.
- ``hurst``: Hurst exponent by rescaled range with the Anis-Lloyd/Peters small-sample
  correction, clipped to [0, 1], see `hurst_rescaled_range`.
- ``skew``, ``kurtosis``: bias-corrected sample skewness G1 and excess kurtosis G2 (Joanes &
  Gill 1998; the estimators of ``pandas.Series.skew``/``kurt`` and of ``scipy.stats`` with
  ``bias=False``). NaN for a constant series, where they are undefined.
- ``cvar``: expected shortfall at ``cvar_level`` of one period's return, a positive number for a
  loss, by the Acerbi & Tasche (2002) estimator (the worst floor(n a) returns plus the fractional
  share of the next one, divided by n a). Not annualised.
- ``liquidity``: log10(1 + value traded). The ``1 +`` keeps a zero value traded finite (0) instead
  of -inf; for any realistic traded value (>= 1e3) it equals log10(value traded) to within 5e-4.
- ``history``: number of valid observations.
- ``coverage``, ``stale``: point-in-time coverage (observations / rows of the asset's calendar
  from its first observation to the last row given) and staleness (rows of its calendar since
  its last observation), see `quant_stages.data.returns.point_in_time_coverage`; the calendar is
  seven-day where `periods_per_year` is 365, weekday otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from scipy.special import gammaln

from quant_core.errors import DataValidationError, ParamValidationError

from quant_stages.data.returns import SEVEN_DAY_PERIODS, point_in_time_coverage
from quant_stages.kernels.checks import is_int, is_number

FEATURE_COLUMNS: Final[tuple[str, ...]] = (
    "momentum",
    "volatility",
    "entropy",
    "efficiency",
    "hurst",
    "skew",
    "kurtosis",
    "cvar",
    "liquidity",
    "history",
    "coverage",
    "stale",
)

#: Largest permutation-entropy order accepted: the counts table has order! bins per asset, and
#: 8! x 2000 assets would already take 80 million bins.
MAX_ENTROPY_ORDER: Final = 7

#: Smallest R/S window: below four points the range and the standard deviation of a block are
#: too tied to each other for R/S to carry information.
MIN_HURST_WINDOW: Final = 4

#: A Hurst slope needs this many window sizes, each with at least two full blocks.
MIN_HURST_WINDOW_SIZES: Final = 3


def sorted_returns_array(returns: pd.DataFrame, *, source: str = "returns") -> tuple[list[str], np.ndarray]:
    """Validate a returns matrix and give its symbols (sorted) and a C-ordered float64 array.

    Checks: a DataFrame with unique string columns, a unique increasing index, numeric values,
    no +-inf. Columns are sorted by symbol so every result is independent of the column order,
    and the array is C-contiguous so that reductions over dates run in the same order whatever
    the frame's internal layout (bitwise-identical outputs).
    """
    if not isinstance(returns, pd.DataFrame):
        raise DataValidationError(
            f"expected a pandas DataFrame, got {type(returns).__name__}", source=source, rule="type"
        )
    symbols = list(returns.columns)
    non_strings = [s for s in symbols if not isinstance(s, str)]
    if non_strings:
        raise DataValidationError(
            f"symbols must be strings, got {non_strings[:5]!r}", source=source, rule="symbol_type"
        )
    if len(set(symbols)) != len(symbols):
        duplicated = sorted(symbol for symbol, count in Counter(symbols).items() if count > 1)
        raise DataValidationError(
            f"duplicated symbols {duplicated[:10]!r}",
            source=source,
            column=duplicated[0],
            rule="unique_columns",
        )
    if not returns.index.is_unique:
        duplicated_rows = returns.index[returns.index.duplicated()]
        raise DataValidationError(
            "dates must be unique", source=source, row=duplicated_rows[0], rule="unique_index"
        )
    if not returns.index.is_monotonic_increasing:
        raise DataValidationError("dates must be in increasing order", source=source, rule="sorted_index")
    ordered = sorted(symbols)
    try:
        values = np.ascontiguousarray(returns.loc[:, ordered].to_numpy(dtype=np.float64, na_value=np.nan))
    except (TypeError, ValueError) as error:
        raise DataValidationError(
            f"returns must be numeric: {error}", source=source, rule="numeric"
        ) from error
    infinite = np.isinf(values)
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise DataValidationError(
            "returns must be finite or NaN",
            source=source,
            column=ordered[column],
            row=returns.index[row],
            rule="finite",
        )
    return ordered, values


def compact_observations(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each column's non-NaN values to the bottom of the column, keeping their time order.

    Returns ``(compacted, counts)``: ``compacted[T - counts[j]:, j]`` are asset j's valid
    observations oldest first (its latest observation is on the last row), the rows above are
    NaN. Bottom alignment lines up every asset's most recent data, which is what windowed
    features (last w observations, R/S blocks) want.
    """
    valid = ~np.isnan(values)
    # A stable sort of the 0/1 validity flags moves the NaN rows up and keeps time order.
    order = np.argsort(valid, axis=0, kind="stable")
    return np.take_along_axis(values, order, axis=0), valid.sum(axis=0)


def _valid_rows(n_rows: int, counts: np.ndarray) -> np.ndarray:
    """Mask of the rows of a compacted array that hold observations."""
    return np.arange(n_rows)[:, None] >= (n_rows - counts)[None, :]


def permutation_entropy(compacted: np.ndarray, counts: np.ndarray, *, order: int, delay: int) -> np.ndarray:
    """Normalised permutation entropy of each column (Bandt & Pompe 2002, Phys. Rev. Lett. 88).

    Each window ``x[t], x[t + delay], ..., x[t + (order - 1) delay]`` is reduced to its ordinal
    pattern; ties are broken by time (the earlier value ranks lower, as a stable argsort does).
    The pattern is encoded as the Lehmer code of its ranks, sum_k (order-1-k)! c_k with
    c_k = #{l > k : x_l < x_k}, an integer in [0, order!), computed with order(order-1)/2
    vectorised comparisons instead of a sort per window. Patterns are counted per asset with one
    bincount, and the Shannon entropy of their frequencies is divided by log(order!) to lie in
    [0, 1]: 0 for a monotone series, close to 1 for i.i.d. noise.

    An asset needs at least order! windows (enough for every pattern to be able to appear);
    otherwise its entropy is NaN.
    """
    n_rows, n_assets = compacted.shape
    span = (order - 1) * delay
    n_patterns = math.factorial(order)
    n_windows = counts - span
    entropy = np.full(n_assets, np.nan)
    n_starts = n_rows - span
    if n_starts <= 0 or n_assets == 0:
        return entropy
    # int32 codes and in-place updates: this loop makes order(order-1)/2 passes over T x N.
    codes = np.zeros((n_starts, n_assets), dtype=np.int32)
    smaller_later = np.empty((n_starts, n_assets), dtype=np.int32)
    is_smaller = np.empty((n_starts, n_assets), dtype=bool)
    for k in range(order - 1):
        head = compacted[k * delay : k * delay + n_starts]
        smaller_later.fill(0)
        for later in range(k + 1, order):
            np.less(compacted[later * delay : later * delay + n_starts], head, out=is_smaller)
            smaller_later += is_smaller
        smaller_later *= math.factorial(order - 1 - k)
        codes += smaller_later
    window_valid = _valid_rows(n_starts, np.maximum(n_windows, 0))
    # Invalid windows go to one extra bin past the last asset's bins, dropped after counting.
    overflow_bin = n_assets * n_patterns
    codes += (n_patterns * np.arange(n_assets, dtype=np.int32))[None, :]
    np.copyto(codes, overflow_bin, where=~window_valid)
    flat = codes
    pattern_counts = np.bincount(flat.ravel(), minlength=overflow_bin + 1)[:overflow_bin]
    pattern_counts = pattern_counts.reshape(n_assets, n_patterns).astype(np.float64)
    enough = n_windows >= n_patterns
    with np.errstate(divide="ignore", invalid="ignore"):
        frequencies = pattern_counts / n_windows[:, None]
        terms = np.where(
            frequencies > 0, frequencies * np.log(np.where(frequencies > 0, frequencies, 1.0)), 0.0
        )
    entropy[enough] = -terms[enough].sum(axis=1) / math.log(n_patterns)
    return entropy


def hurst_window_sizes(min_window: int, max_window: int) -> np.ndarray:
    """Log-spaced R/S window sizes, two per octave: round(min_window * 2**(k/2)) <= max_window."""
    sizes: list[int] = []
    k = 0
    while True:
        size = round(min_window * 2.0 ** (k / 2))
        if size > max_window:
            break
        if not sizes or size != sizes[-1]:
            sizes.append(size)
        k += 1
    return np.asarray(sizes, dtype=np.int64)


def expected_rescaled_range(sizes: np.ndarray) -> np.ndarray:
    """E[R/S] of i.i.d. Gaussian noise in a block of n points (Anis & Lloyd 1976, Peters 1994).

    E[R/S]_n = (n - 1/2)/n * Gamma((n-1)/2) / (sqrt(pi) Gamma(n/2)) * sum_{i=1}^{n-1} sqrt((n-i)/i),
    with the gamma ratio taken through log-gamma, so no large-n approximation is needed.
    """
    expected = np.empty(len(sizes))
    for position, n in enumerate(sizes.tolist()):
        i = np.arange(1, n)
        gamma_ratio = math.exp(gammaln((n - 1) / 2) - gammaln(n / 2)) / math.sqrt(math.pi)
        expected[position] = (n - 0.5) / n * gamma_ratio * np.sqrt((n - i) / i).sum()
    return expected


def hurst_rescaled_range(compacted: np.ndarray, counts: np.ndarray, *, min_window: int) -> np.ndarray:
    """Hurst exponent of each column by corrected rescaled range, clipped to [0, 1].

    Method (Hurst 1951; Mandelbrot & Wallis 1969; small-sample correction of Anis & Lloyd 1976 as
    modified by Peters 1994; see Weron 2002, Physica A 312, for its finite-sample behaviour):
    for each window size s of `hurst_window_sizes` (from ``min_window`` up to half the asset's
    history) the asset's most recent floor(n/s) non-overlapping blocks of s returns are taken;
    in each block R is the range of the cumulative deviations from the block mean and S the
    block's standard deviation (ddof=0); constant blocks (S = 0) are skipped. With (R/S)_s the mean of
    R/S over the blocks, H = 0.5 + slope of log((R/S)_s) - log(E[R/S]_s) on log s, so that i.i.d.
    noise sits at 0.5 whatever the window sizes; persistence gives H > 0.5, mean reversion H < 0.5.
    Needs at least `MIN_HURST_WINDOW_SIZES` sizes with two full blocks each; otherwise NaN.
    """
    n_rows, n_assets = compacted.shape
    hurst = np.full(n_assets, np.nan)
    sizes = hurst_window_sizes(min_window, n_rows // 2)
    if len(sizes) < MIN_HURST_WINDOW_SIZES or n_assets == 0:
        return hurst
    filled = np.where(_valid_rows(n_rows, counts), compacted, 0.0)
    log_expected = np.log(expected_rescaled_range(sizes))
    log_rs = np.zeros((len(sizes), n_assets))
    usable = np.zeros((len(sizes), n_assets), dtype=bool)
    # Every size reads one prefix sum (numpy's cumsum over dates is slow, so it runs once) and
    # reuses two T x N work buffers (a fresh 16 MB temporary per size costs more in page faults
    # than the arithmetic done in it): two elementwise passes and three reductions per size.
    prefix = np.zeros((n_rows + 1, n_assets))
    np.cumsum(filled, axis=0, out=prefix[1:])
    squared = filled * filled
    scratch_buffer = np.empty(n_rows * n_assets)
    walk_buffer = np.empty(n_rows * n_assets)
    for position, size in enumerate(sizes.tolist()):
        n_blocks = n_rows // size
        start = n_rows - n_blocks * size
        shape = (n_blocks, size, n_assets)
        block_sums = filled[start:].reshape(shape).sum(axis=1)
        means = block_sums / size
        # Cumulative deviation from the block mean after k + 1 points, up to a constant per
        # block (which the range ignores): P[start_b + k + 1] - (k + 1) / s * block sum.
        scratch = np.multiply(
            (np.arange(1, size + 1) / size)[None, :, None],
            block_sums[:, None, :],
            out=scratch_buffer[: n_blocks * size * n_assets].reshape(shape),
        )
        walk = np.subtract(
            prefix[start + 1 :].reshape(shape), scratch, out=walk_buffer[: scratch.size].reshape(shape)
        )
        ranges = walk.max(axis=1) - walk.min(axis=1)
        mean_squares = squared[start:].reshape(shape).sum(axis=1) / size
        variances = mean_squares - means * means
        # A constant block has variance 0 up to rounding (relative 1e-16 of its mean square).
        varies = variances > 1e-12 * mean_squares
        scales = np.sqrt(np.where(varies, variances, 1.0))
        # Block b covers the (n_blocks - b)-th most recent s observations.
        full_blocks = counts // size
        block_valid = (np.arange(n_blocks)[:, None] >= n_blocks - full_blocks[None, :]) & varies
        ratios = np.where(block_valid, ranges / scales, 0.0)
        n_ratios = block_valid.sum(axis=0)
        usable[position] = (full_blocks >= 2) & (n_ratios > 0)
        mean_ratio = ratios.sum(axis=0) / np.maximum(n_ratios, 1)
        log_rs[position] = np.where(
            usable[position], np.log(np.where(usable[position], mean_ratio, 1.0)), 0.0
        )
    log_sizes = np.log(sizes.astype(np.float64))[:, None]
    excess = np.where(usable, log_rs - log_expected[:, None], 0.0)
    n_used = usable.sum(axis=0)
    enough = n_used >= MIN_HURST_WINDOW_SIZES
    weights = usable.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (weights * log_sizes).sum(axis=0) / n_used
        centred = np.where(usable, log_sizes - centre[None, :], 0.0)
        slope = (centred * excess).sum(axis=0) / (centred * centred).sum(axis=0)
    hurst[enough] = np.clip(0.5 + slope[enough], 0.0, 1.0)
    return hurst


def _validate_params(
    entropy_order: int,
    entropy_delay: int,
    efficiency_window: int | None,
    hurst_min_window: int,
    cvar_level: float,
) -> None:
    if not is_int(entropy_order) or not 2 <= entropy_order <= MAX_ENTROPY_ORDER:
        raise ParamValidationError(
            f"entropy_order must be an integer in [2, {MAX_ENTROPY_ORDER}], got {entropy_order!r}",
            param="entropy_order",
            value=entropy_order,
            rule=f"integer in [2, {MAX_ENTROPY_ORDER}]",
        )
    if not is_int(entropy_delay) or entropy_delay < 1:
        raise ParamValidationError(
            f"entropy_delay must be a positive integer, got {entropy_delay!r}",
            param="entropy_delay",
            value=entropy_delay,
            rule="integer >= 1",
        )
    if efficiency_window is not None and (not is_int(efficiency_window) or efficiency_window < 2):
        raise ParamValidationError(
            f"efficiency_window must be None or an integer >= 2, got {efficiency_window!r}",
            param="efficiency_window",
            value=efficiency_window,
            rule="None or integer >= 2",
        )
    if not is_int(hurst_min_window) or hurst_min_window < MIN_HURST_WINDOW:
        raise ParamValidationError(
            f"hurst_min_window must be an integer >= {MIN_HURST_WINDOW}, got {hurst_min_window!r}",
            param="hurst_min_window",
            value=hurst_min_window,
            rule=f"integer >= {MIN_HURST_WINDOW}",
        )
    if not is_number(cvar_level) or not 0.0 < float(cvar_level) < 1.0:
        raise ParamValidationError(
            f"cvar_level must be a number in (0, 1), got {cvar_level!r}",
            param="cvar_level",
            value=cvar_level,
            rule="0 < cvar_level < 1",
        )


def _per_symbol(series: pd.Series, symbols: Sequence[str], *, name: str) -> np.ndarray:
    """Values of a per-symbol Series in `symbols` order; every symbol must be present."""
    if not isinstance(series, pd.Series):
        raise DataValidationError(
            f"expected a pandas Series indexed by symbol, got {type(series).__name__}",
            source=name,
            rule="type",
        )
    if not series.index.is_unique:
        duplicated = series.index[series.index.duplicated()]
        raise DataValidationError("duplicated symbols", source=name, row=duplicated[0], rule="unique_index")
    missing = [symbol for symbol in symbols if symbol not in series.index]
    if missing:
        raise DataValidationError(
            f"no value for {len(missing)} symbol(s) of the returns matrix: {missing[:10]!r}",
            source=name,
            row=missing[0],
            rule="covers_returns_columns",
        )
    try:
        return series.reindex(list(symbols)).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"values must be numeric: {error}", source=name, rule="numeric") from error


def _moments(compacted: np.ndarray, valid: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, sample std, G1 skewness and G2 excess kurtosis of each column's observations."""
    n = counts.astype(np.float64)
    filled = np.where(valid, compacted, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = filled.sum(axis=0) / n
        deviations = np.where(valid, compacted - mean[None, :], 0.0)
        squared = deviations * deviations
        m2 = squared.sum(axis=0) / n
        m3 = (squared * deviations).sum(axis=0) / n
        m4 = (squared * squared).sum(axis=0) / n
        # A constant series: its computed mean may be off by an ulp, so test the values instead.
        constant = np.where(valid, compacted, -np.inf).max(axis=0) == np.where(valid, compacted, np.inf).min(
            axis=0
        )
        std = np.where(constant, 0.0, np.sqrt(m2 * n / (n - 1)))
        skew = np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
        kurtosis = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / (m2 * m2) - 3 * (n - 1))
    mean[counts < 1] = np.nan
    std[counts < 2] = np.nan
    skew[(counts < 3) | constant] = np.nan
    kurtosis[(counts < 4) | constant] = np.nan
    return {"mean": mean, "std": std, "skew": skew, "kurtosis": kurtosis}


def expected_shortfall(compacted: np.ndarray, counts: np.ndarray, *, level: float) -> np.ndarray:
    """Expected shortfall at `level` of each column, as a positive loss (Acerbi & Tasche 2002).

    With x_(1) <= ... <= x_(n) the sorted returns and k = floor(n level):
    ES = -( sum_{i<=k} x_(i) + (n level - k) x_(k+1) ) / (n level). Needs k >= 1 (at least one
    whole observation in the tail, n >= 1/level); otherwise NaN.
    """
    n_rows, n_assets = compacted.shape
    shortfall = np.full(n_assets, np.nan)
    if n_rows == 0 or n_assets == 0:
        return shortfall
    # The 1e-9 absorbs products such as 20 * 0.35 = 6.999999999999999 landing just below an integer.
    k = np.floor(counts * level + 1e-9).astype(np.int64)
    enough = k >= 1
    if not enough.any():
        return shortfall
    # Only the k_max + 1 smallest returns matter (k <= n level < n): partition, then sort them.
    k_max = int(k.max())
    smallest = np.sort(np.partition(compacted, k_max, axis=0)[: k_max + 1], axis=0)  # NaN last
    tail_sums = np.cumsum(np.where(np.isnan(smallest), 0.0, smallest), axis=0)
    columns = np.arange(n_assets)
    tail_sum = tail_sums[np.clip(k, 1, None) - 1, columns]
    next_value = np.nan_to_num(smallest[k, columns])
    fraction = np.clip(counts * level - k, 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = -(tail_sum + fraction * next_value) / (counts * level)
    shortfall[enough] = value[enough]
    return shortfall


def efficiency_ratio(compacted: np.ndarray, counts: np.ndarray, *, window: int | None) -> np.ndarray:
    """Kaufman efficiency ratio of the log price over the whole history or the last `window` obs.

    ER = |sum log(1 + r)| / sum |log(1 + r)|: 1 for a monotone price path, near 0 for noise.
    NaN when the asset has fewer than `window` observations (ER shrinks with the window length,
    so mixing lengths would not be comparable), no observation, or no move at all.
    """
    n_rows = compacted.shape[0]
    valid = _valid_rows(n_rows, counts)
    log_returns = np.log1p(np.where(valid, compacted, 0.0))
    needed = 1
    if window is not None:
        log_returns = log_returns[max(n_rows - window, 0) :]
        needed = window
    path = np.abs(log_returns).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(log_returns.sum(axis=0)) / path
    ratio[(counts < needed) | (path == 0)] = np.nan
    return ratio


def compute_features(
    returns: pd.DataFrame,
    periods_per_year: pd.Series,
    value_traded: pd.Series,
    *,
    entropy_order: int = 5,
    entropy_delay: int = 1,
    efficiency_window: int | None = None,
    hurst_min_window: int = 8,
    cvar_level: float = 0.05,
) -> pd.DataFrame:
    """Selection features of every asset, indexed by symbol (sorted), columns `FEATURE_COLUMNS`.

    `periods_per_year` (e.g. 365 for crypto, 252 for equities) and `value_traded` are Series
    indexed by symbol covering every column of `returns`; `value_traded` may be NaN (unknown
    liquidity gives NaN) but not negative. Simple returns must be > -1 (log returns are taken).
    See the module docstring for each feature's definition and source.
    """
    _validate_params(entropy_order, entropy_delay, efficiency_window, hurst_min_window, cvar_level)
    symbols, values = sorted_returns_array(returns)
    at_or_below_minus_one = values <= -1.0
    if at_or_below_minus_one.any():
        row, column = np.argwhere(at_or_below_minus_one)[0]
        raise DataValidationError(
            f"simple return {values[row, column]!r} is <= -1, which has no log return",
            source="returns",
            column=symbols[column],
            row=returns.index[row],
            rule="return_above_minus_one",
        )
    periods = _per_symbol(periods_per_year, symbols, name="periods_per_year")
    bad_periods = ~(np.isfinite(periods) & (periods > 0))
    if bad_periods.any():
        index = int(np.argmax(bad_periods))
        raise DataValidationError(
            f"periods per year must be finite and > 0, got {periods[index]!r}",
            source="periods_per_year",
            row=symbols[index],
            rule="positive_finite",
        )
    traded = _per_symbol(value_traded, symbols, name="value_traded")
    negative = traded < 0
    if negative.any() or np.isinf(traded).any():
        index = int(np.argmax(negative | np.isinf(traded)))
        raise DataValidationError(
            f"value traded must be finite and >= 0 (or NaN when unknown), got {traded[index]!r}",
            source="value_traded",
            row=symbols[index],
            rule="non_negative_finite",
        )

    calendar = point_in_time_coverage(pd.DataFrame(values, columns=symbols), periods == SEVEN_DAY_PERIODS)
    compacted, counts = compact_observations(values)
    valid = _valid_rows(compacted.shape[0], counts)
    moments = _moments(compacted, valid, counts)
    columns = {
        "momentum": moments["mean"] * periods,
        "volatility": moments["std"] * np.sqrt(periods),
        "entropy": permutation_entropy(compacted, counts, order=entropy_order, delay=entropy_delay),
        "efficiency": efficiency_ratio(compacted, counts, window=efficiency_window),
        "hurst": hurst_rescaled_range(compacted, counts, min_window=hurst_min_window),
        "skew": moments["skew"],
        "kurtosis": moments["kurtosis"],
        "cvar": expected_shortfall(compacted, counts, level=float(cvar_level)),
        "liquidity": np.log10(1.0 + traded),
        "history": counts.astype(np.float64),
        "coverage": calendar["coverage"].to_numpy(),
        "stale": calendar["stale"].to_numpy(),
    }
    return pd.DataFrame(columns, index=pd.Index(symbols, name="symbol"), columns=list(FEATURE_COLUMNS))
