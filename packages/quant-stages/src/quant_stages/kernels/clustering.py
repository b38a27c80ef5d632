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

The tree is scipy's agglomerative ``linkage`` (ward, average, complete or single) on that
distance, cut at a height, and re-cut into at most ``max_clusters`` when the height gives more.
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
from quant_stages.kernels.features import sorted_returns_array

LINKAGE_METHODS: Final[tuple[str, ...]] = ("ward", "average", "complete", "single")

#: Distance of a pair with no usable correlation (rho = 0).
UNINFORMATIVE_DISTANCE: Final = math.sqrt(0.5)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _validate_window_params(lookbacks: Sequence[int], min_periods: int) -> tuple[int, ...]:
    if isinstance(lookbacks, (str, bytes)) or not isinstance(lookbacks, Sequence) or not lookbacks:
        raise ParamValidationError(
            f"lookbacks must be a non-empty sequence of integers, got {lookbacks!r}",
            param="lookbacks", value=lookbacks, rule="non-empty sequence of integers >= 2",
        )
    bad = [lookback for lookback in lookbacks if not _is_int(lookback) or lookback < 2]
    if bad:
        raise ParamValidationError(
            f"lookbacks must be integers >= 2, got {bad!r}", param="lookbacks", value=list(lookbacks), rule="integers >= 2"
        )
    if not _is_int(min_periods) or min_periods < 2:
        raise ParamValidationError(
            f"min_periods must be an integer >= 2, got {min_periods!r}", param="min_periods", value=min_periods, rule="integer >= 2"
        )
    # Sorted and deduplicated: the same set of lookbacks always averages in the same order.
    return tuple(sorted({int(lookback) for lookback in lookbacks}))


def pairwise_correlation(window: np.ndarray, min_periods: int) -> np.ndarray:
    """Pearson correlation of every pair of columns on their common non-NaN rows.

    With M the 0/1 mask of observations and X the returns (centred on each column's mean, to
    keep the one-pass sums accurate, then zero-filled), every pairwise sum over common rows is a
    matrix product: counts M'M, sums X'M, sums of squares (X*X)'M and cross products X'X. NaN
    where the pair has fewer than `min_periods` common rows or no variance on them; the
    diagonal is 1 where defined.
    """
    observed = ~np.isnan(window)
    counts_per_column = observed.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        column_mean = np.where(observed, window, 0.0).sum(axis=0) / np.maximum(counts_per_column, 1)
    centred = np.where(observed, window - column_mean[None, :], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if observed.all():
            common = np.full((window.shape[1], window.shape[1]), float(window.shape[0]))
            sums = np.broadcast_to(centred.sum(axis=0)[:, None], common.shape)
            squares = np.broadcast_to((centred * centred).sum(axis=0)[:, None], common.shape)
        else:
            mask = observed.astype(np.float64)
            common = mask.T @ mask
            sums = centred.T @ mask  # [i, j]: sum of x_i over the rows where j is observed
            squares = (centred * centred).T @ mask
        cross = centred.T @ centred
        covariance = cross - sums * sums.T / common
        variance_i = squares - sums * sums / common
        variance_j = variance_i.T
        denominator = np.sqrt(variance_i * variance_j)
        correlation = covariance / denominator
        # Relative scale guards against variances that are rounding noise of a constant series.
        degenerate = ~(variance_i > 1e-14 * squares) | ~(variance_j > 1e-14 * squares.T)
    correlation[(common < min_periods) | degenerate | ~np.isfinite(correlation)] = np.nan
    correlation = np.clip(correlation, -1.0, 1.0)
    return correlation


def correlation_distance(
    returns: pd.DataFrame, lookbacks: Sequence[int] = (60, 120, 250), min_periods: int = 20
) -> tuple[list[str], np.ndarray]:
    """Symbols (sorted) and their Mantegna correlation-distance matrix averaged over lookbacks.

    See the module docstring for the method. The matrix is symmetric with a zero diagonal and
    entries in [0, 1]; undefined correlations count as distance 1/sqrt(2).
    """
    windows = _validate_window_params(lookbacks, min_periods)
    symbols, values = sorted_returns_array(returns)
    n_rows, n_assets = values.shape
    supported = [lookback for lookback in windows if lookback <= n_rows] or [n_rows]
    total = np.zeros((n_assets, n_assets))
    for lookback in supported:
        correlation = pairwise_correlation(values[n_rows - lookback :], min_periods)
        distance = np.sqrt(0.5 * (1.0 - np.where(np.isnan(correlation), 0.0, correlation)))
        total += distance
    distance = total / len(supported)
    # Symmetric by construction up to the order of BLAS sums; make it exact for squareform.
    distance = 0.5 * (distance + distance.T)
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
            param="method", value=method, rule=f"one of {list(LINKAGE_METHODS)}",
        )
    if isinstance(distance_threshold, bool) or not isinstance(distance_threshold, (int, float, np.integer, np.floating)) or not (
        math.isfinite(distance_threshold) and distance_threshold > 0
    ):
        raise ParamValidationError(
            f"distance_threshold must be a finite number > 0, got {distance_threshold!r}",
            param="distance_threshold", value=distance_threshold, rule="finite and > 0",
        )
    if not _is_int(max_clusters) or max_clusters < 1:
        raise ParamValidationError(
            f"max_clusters must be an integer >= 1, got {max_clusters!r}", param="max_clusters", value=max_clusters, rule="integer >= 1"
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
