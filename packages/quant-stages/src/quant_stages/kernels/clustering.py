"""Hierarchical clustering of assets on correlation distance averaged over several lookbacks.

Distance (Mantegna 1999, Eur. Phys. J. B 11): d_ij = sqrt((1 - rho_ij) / 2), in [0, 1], a metric
(the Euclidean distance between standardised series, up to a factor). The correlation rho_ij is
Pearson's on the pairwise-complete observations of the window (the dates both assets traded, as
``pandas.DataFrame.corr`` does), computed for all pairs at once with matrix products of the
masked, zero-filled returns. It is computed on the last L rows for each lookback L that the data
supports (L <= number of rows) and the distances are averaged; if no lookback is supported the
whole history is one window. A pair with fewer than ``min_periods`` common observations, or with
a constant series on their common dates, has no usable correlation and gets rho = 0, that is
distance 1/sqrt(2): "no evidence of co-movement", neither close nor far.

The windows are nested (each is the last L rows), so the pairwise sums are accumulated over
disjoint slices of rows, newest first: every row enters the matrix products once, whatever the
number of lookbacks. Columns are centred once, on the longest window's means, which keeps the
one-pass sums accurate (correlation itself is shift-invariant).

The tree is scipy's agglomerative ``linkage`` (ward, average, complete or single) on that
distance, cut at a height, and re-cut into at most ``max_clusters`` when the height gives more.
Ward's update formula assumes Euclidean distances; the Mantegna distance of one complete window
is Euclidean, its average over windows and pairwise-complete estimates only approximately so,
which is the usual practice in the literature (e.g. Lopez de Prado 2016, HRP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from quant_core.errors import ParamValidationError

from quant_stages.kernels.checks import is_int, is_number
from quant_stages.kernels.features import sorted_returns_array

LINKAGE_METHODS: Final[tuple[str, ...]] = ("ward", "average", "complete", "single")

#: Distance of a pair with no usable correlation (rho = 0).
UNINFORMATIVE_DISTANCE: Final = math.sqrt(0.5)


def _validate_window_params(lookbacks: Sequence[int], min_periods: int) -> tuple[int, ...]:
    if isinstance(lookbacks, (str, bytes)) or not isinstance(lookbacks, Sequence) or not lookbacks:
        raise ParamValidationError(
            f"lookbacks must be a non-empty sequence of integers, got {lookbacks!r}",
            param="lookbacks",
            value=lookbacks,
            rule="non-empty sequence of integers >= 2",
        )
    bad = [lookback for lookback in lookbacks if not is_int(lookback) or lookback < 2]
    if bad:
        raise ParamValidationError(
            f"lookbacks must be integers >= 2, got {bad!r}",
            param="lookbacks",
            value=list(lookbacks),
            rule="integers >= 2",
        )
    if not is_int(min_periods) or min_periods < 2:
        raise ParamValidationError(
            f"min_periods must be an integer >= 2, got {min_periods!r}",
            param="min_periods",
            value=min_periods,
            rule="integer >= 2",
        )
    # Sorted and deduplicated: the same set of lookbacks always averages in the same order.
    return tuple(sorted({int(lookback) for lookback in lookbacks}))


class _PairwiseMoments:
    """Running sums over the rows both assets of a pair observe, entry [i, j] for pair (i, j).

    ``common``: number of such rows; ``sums``: sum of x_i over them; ``squares``: sum of x_i**2;
    ``cross``: sum of x_i x_j. Each is a matrix product of the zero-filled returns X and the 0/1
    mask M of observations (M'M, X'M, (X*X)'M, X'X). With complete data ``common`` is a scalar
    and ``sums``/``squares`` are (N, 1) columns that broadcast, saving three products.

    Every N x N array lives in a buffer allocated once and updated in place: at N = 2000 a
    fresh 32 MB temporary costs as much as the arithmetic done in it.
    """

    def __init__(self, n_assets: int, *, complete: bool) -> None:
        square = (n_assets, n_assets)
        self.complete = complete
        self.cross = np.zeros(square)
        self._product = np.empty(square)
        if complete:
            self.common: np.ndarray | float = 0.0
            self.sums = np.zeros((n_assets, 1))
            self.squares = np.zeros((n_assets, 1))
        else:
            # Counts are exact in float32 up to 2**24 rows, and float32 products are twice as fast.
            self.common = np.zeros(square, dtype=np.float32)
            self._count_product = np.empty(square, dtype=np.float32)
            self.sums = np.zeros(square)
            self.squares = np.zeros(square)
        self._scale = np.empty(square)
        self._variance = np.empty(self.sums.shape)
        self._noise_floor = np.empty(self.sums.shape)
        self._varies = np.empty(self.sums.shape, dtype=bool)
        self._undefined = np.empty(square, dtype=bool)
        self._inverse_common = np.empty(np.shape(self.common))

    def add_rows(self, rows: np.ndarray) -> None:
        """Add a block of (centred) return rows, NaN where not observed."""
        observed = ~np.isnan(rows)
        filled = np.where(observed, rows, 0.0)
        if self.complete:
            self.common = self.common + float(rows.shape[0])
            self.sums += filled.sum(axis=0)[:, None]
            self.squares += (filled * filled).sum(axis=0)[:, None]
        else:
            mask = observed.astype(np.float32)
            np.matmul(mask.T, mask, out=self._count_product)
            self.common += self._count_product
            mask = observed.astype(np.float64)
            np.matmul(filled.T, mask, out=self._product)
            self.sums += self._product
            np.matmul((filled * filled).T, mask, out=self._product)
            self.squares += self._product
        np.matmul(filled.T, filled, out=self._product)
        self.cross += self._product

    def correlation(self, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
        """Correlation of every pair so far, and the mask of pairs where it is undefined.

        Undefined (fewer than `min_periods` common rows, or no variance on them) entries hold 0.
        Both arrays are internal buffers, overwritten by the next call.
        """
        correlation, variance, scale = self._product, self._variance, self._scale
        sums = self.sums
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(1.0, self.common, out=self._inverse_common, dtype=np.float64)
            np.multiply(sums, sums.T, out=correlation)
            correlation *= self._inverse_common
            np.subtract(self.cross, correlation, out=correlation)  # covariance x common
            np.multiply(sums, sums, out=variance)
            variance *= self._inverse_common
            np.subtract(self.squares, variance, out=variance)  # variance of x_i on the pair's rows x common
            # Relative scale guards against variances that are rounding noise of a constant series.
            np.multiply(self.squares, 1e-14, out=self._noise_floor)
            np.greater(variance, self._noise_floor, out=self._varies)
            np.logical_and(self._varies, self._varies.T, out=self._undefined)
            np.logical_not(self._undefined, out=self._undefined)
            self._undefined |= np.asarray(self.common) < min_periods
            np.multiply(variance, variance.T, out=scale)
            np.sqrt(scale, out=scale)
            np.divide(correlation, scale, out=correlation)
        np.clip(correlation, -1.0, 1.0, out=correlation)
        np.copyto(correlation, 0.0, where=self._undefined)
        return correlation, self._undefined

    def scaled_correlation(self, min_periods: int, factor: float) -> np.ndarray:
        """`factor` times `correlation`, 0 where undefined (an internal buffer)."""
        correlation, _ = self.correlation(min_periods)
        correlation *= factor
        return correlation


class _PatternGroupedMoments:
    """Pairwise-complete running sums for columns grouped by their pattern of missing values.

    Two assets with the same missing-value pattern see the same rows, so the sums the pairwise
    statistics need depend on the partner only through its pattern group: ``sums[i, h]`` and
    ``squares[i, h]`` are the sums of x_i and x_i**2 over the rows where i and group h both
    observe, and ``common[a, b]`` counts the rows groups a and b share. These are products with
    the G 0/1 group patterns (N x G and G x G) instead of the N x N masked products of
    `_PairwiseMoments`; only ``cross`` (X'X of the zero-filled returns, a symmetric rank-k
    update) stays N x N. Real universes have few patterns per window (every day, weekdays, a
    few listings), and with as many patterns as assets the cost is that of the dense products.

    The correlation of pair (i, j) is then (Chan, Golub and LeVeque 1983, one-pass moments of
    centred data) ``(cross - sums[i, g_j] sums[j, g_i] / common) / sqrt(var[i, g_j] var[j, g_i])``,
    built with gathers of the N x G tables, never an N x N transpose.
    """

    def __init__(self, first_member: np.ndarray, group_of: np.ndarray) -> None:
        n_assets, n_groups = len(group_of), len(first_member)
        self._first_member = first_member  # one column of each group, to read its pattern from
        self._group_of = group_of
        square = (n_assets, n_assets)
        self.cross = np.zeros(square)
        self.sums = np.zeros((n_assets, n_groups))
        self.squares = np.zeros((n_assets, n_groups))
        self.common = np.zeros((n_groups, n_groups))  # counts are exact in float64
        self._product = np.empty(square)
        self._gathered = np.empty(square)

    def add_rows(self, rows: np.ndarray) -> None:
        """Add a block of (centred) return rows, NaN where not observed."""
        observed = ~np.isnan(rows)
        filled = np.where(observed, rows, 0.0)
        patterns = observed[:, self._first_member].astype(np.float64)
        self.common += patterns.T @ patterns
        self.sums += filled.T @ patterns
        self.squares += (filled * filled).T @ patterns
        np.matmul(filled.T, filled, out=self._product)
        self.cross += self._product

    def scaled_correlation(self, min_periods: int, factor: float) -> np.ndarray:
        """`factor` times the correlation of every pair so far, 0 where it is undefined.

        Undefined: fewer than `min_periods` common rows, or no variance on them. The result is
        an internal buffer, overwritten by the next call; it is not clipped to [-1, 1].
        """
        group_of, sums, squares = self._group_of, self.sums, self.squares
        with np.errstate(invalid="ignore", divide="ignore"):
            enough = self.common >= min_periods
            inverse_common = np.where(enough, 1.0 / self.common, 0.0)[group_of]  # [i, h] = 1 / common(g_i, h)
            variance = squares - sums * sums * inverse_common  # of x_i on the rows i and group h share, x common
            # Relative scale guards against variances that are rounding noise of a constant series.
            usable = (variance > squares * 1e-14) & enough[group_of]
            # Zero on unusable entries makes the pair's correlation 0 without a mask pass.
            inverse_scale = np.where(usable, factor / np.sqrt(variance), 0.0)
            inverse_scale_of_partner = np.where(usable, 1.0 / np.sqrt(variance), 0.0).T.copy()
        correlation, gathered = self._product, self._gathered
        # mode="clip" is exact (every index is in range) and, unlike "raise", writes `out` unbuffered.
        np.take(sums * inverse_common, group_of, axis=1, out=correlation, mode="clip")  # sums[i, g_j] / common
        np.take(sums.T.copy(), group_of, axis=0, out=gathered, mode="clip")  # sums[j, g_i]
        correlation *= gathered
        np.subtract(self.cross, correlation, out=correlation)  # covariance x common
        np.take(inverse_scale, group_of, axis=1, out=gathered, mode="clip")
        correlation *= gathered
        np.take(inverse_scale_of_partner, group_of, axis=0, out=gathered, mode="clip")
        correlation *= gathered
        return correlation


def _window_moments(centred: np.ndarray) -> _PairwiseMoments | _PatternGroupedMoments:
    """Grouped sums when the window has few missing-value patterns, the dense ones otherwise.

    With one pattern per asset the grouped tables are N x N and their gathers cost more than the
    dense products (1.6x at N = 1000 with 10% random gaps); below N / 4 patterns they save most
    of the masked products.
    """
    n_assets = centred.shape[1]
    # Patterns as bytes, one row per asset: np.unique sorts and labels them deterministically.
    packed = np.ascontiguousarray(np.packbits(~np.isnan(centred), axis=0).T)
    _, first_member, group_of = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    if len(first_member) * 4 > n_assets:
        return _PairwiseMoments(n_assets, complete=not np.isnan(centred).any())
    return _PatternGroupedMoments(first_member, group_of.reshape(-1))


def _centre(window: np.ndarray) -> np.ndarray:
    """Subtract each column's mean (correlation is shift-invariant; the one-pass sums are not)."""
    observed = ~np.isnan(window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(observed, window, 0.0).sum(axis=0) / np.maximum(observed.sum(axis=0), 1)
    return window - mean[None, :]


def correlation_distance(
    returns: pd.DataFrame, lookbacks: Sequence[int] = (60, 120, 250), min_periods: int = 20
) -> tuple[list[str], np.ndarray]:
    """Symbols (sorted) and their Mantegna correlation-distance matrix averaged over lookbacks.

    See the module docstring for the method. The matrix is symmetric with a zero diagonal and
    entries in [0, 1]; undefined correlations count as distance 1/sqrt(2). Lookbacks are used
    sorted and deduplicated; those longer than the data are skipped.
    """
    windows = _validate_window_params(lookbacks, min_periods)
    symbols, values = sorted_returns_array(returns)
    n_rows, n_assets = values.shape
    supported = [lookback for lookback in windows if lookback <= n_rows] or [n_rows]
    # One centring for all windows: any constant near the data keeps the sums accurate.
    centred = _centre(values[n_rows - supported[-1] :])
    moments = _window_moments(centred)
    total = np.zeros((n_assets, n_assets))
    newer = 0
    for lookback in supported:
        moments.add_rows(centred[len(centred) - lookback : len(centred) - newer])
        newer = lookback
        # d = sqrt((1 - rho) / 2), in place, from -rho / 2; undefined pairs have rho = 0
        half_negative = moments.scaled_correlation(min_periods, -0.5)
        np.clip(half_negative, -0.5, 0.5, out=half_negative)
        half_negative += 0.5
        np.sqrt(half_negative, out=half_negative)
        total += half_negative
    total /= len(supported)
    # Symmetric up to the order of BLAS sums; make it exact for squareform.
    distance = total + total.T
    distance *= 0.5
    np.fill_diagonal(distance, 0.0)
    return symbols, distance


def cluster_assets(
    returns: pd.DataFrame,
    *,
    lookbacks: Sequence[int] = (60, 120, 250),
    method: str = "ward",
    distance_threshold: float = 0.5,
    max_clusters: int = 20,
    min_periods: int = 20,
) -> dict[str, list[str]]:
    """Clusters of assets: ``{"c01": [symbols...], "c02": [...], ...}``.

    The linkage tree of `correlation_distance` (scipy ``linkage`` with `method`) is cut at
    height `distance_threshold` (``fcluster(criterion="distance")``); if that leaves more than
    `max_clusters` clusters, the tree is cut into `max_clusters` instead (``maxclust``).
    Cluster names and contents do not depend on the column order: members are sorted, and
    clusters are numbered c01, c02, ... in the order of their smallest symbol (three digits
    from a hundred clusters on). No asset gives no cluster; one asset, one cluster.
    """
    if method not in LINKAGE_METHODS:
        raise ParamValidationError(
            f"unknown linkage method {method!r}; expected one of {list(LINKAGE_METHODS)}",
            param="method",
            value=method,
            rule=f"one of {list(LINKAGE_METHODS)}",
        )
    if (
        not is_number(distance_threshold)
        or not (math.isfinite(distance_threshold) and distance_threshold > 0)
    ):
        raise ParamValidationError(
            f"distance_threshold must be a finite number > 0, got {distance_threshold!r}",
            param="distance_threshold",
            value=distance_threshold,
            rule="finite and > 0",
        )
    if not is_int(max_clusters) or max_clusters < 1:
        raise ParamValidationError(
            f"max_clusters must be an integer >= 1, got {max_clusters!r}",
            param="max_clusters",
            value=max_clusters,
            rule="integer >= 1",
        )
    symbols, distance = correlation_distance(returns, lookbacks, min_periods)
    if not symbols:
        return {}
    if len(symbols) == 1:
        labels = np.ones(1, dtype=np.int64)
    else:
        tree = linkage(squareform(distance, checks=False), method=method)
        labels = fcluster(tree, t=float(distance_threshold), criterion="distance")
        if len(np.unique(labels)) > max_clusters:
            labels = fcluster(tree, t=int(max_clusters), criterion="maxclust")
    members: dict[int, list[str]] = {}
    for symbol, label in zip(symbols, labels.tolist(), strict=True):
        members.setdefault(label, []).append(symbol)  # symbols are sorted, so members are too
    groups = sorted(members.values(), key=lambda group: group[0])
    width = max(2, len(str(len(groups))))
    return {f"c{number:0{width}d}": group for number, group in enumerate(groups, start=1)}
