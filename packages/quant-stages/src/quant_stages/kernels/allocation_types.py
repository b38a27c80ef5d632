"""Types shared by the allocation engines: the validated problem, an engine's answer, the errors.

Every engine works on an `AllocationProblem`: symbols in a canonical order, covariance as a float64
array in that order, bounds already resolved (and found feasible).

The canonical order depends on the data, never on the symbols' names or the order of the input
columns (`canonical_order`): by variance, ties by expected return, then by the sorted values of the
covariance row. Sorting by symbol would make the input order irrelevant but not the names: an
engine whose answer depends on the order it reads the assets in (HRP: the dendrogram's leaf order
and the bisection's halves; a solver's rounding) would give other weights to the same assets once
renamed. With a data-defined order every engine is exactly invariant to a permutation of the
assets (same weights, bit for bit, whatever their names and column order); only assets identical
in every number are ordered by symbol, among themselves.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quant_core.errors import DataValidationError, QuantError

from .constraints import ClusterMap, ConstraintSet, WeightBounds, cluster_codes_for, resolve_constraints

#: Relative asymmetry tolerated in a covariance matrix before it is rejected.
SYMMETRY_TOLERANCE = 1e-8


class AllocationSolveError(QuantError, RuntimeError):
    """An engine could not produce weights (infeasible model, solver failure, non-convergence).

    Caught by `optimize`, which records `reason` and `status` and moves on to the fallback chain.
    """

    def __init__(self, engine: str, reason: str, status: str = "error") -> None:
        super().__init__(f"{engine}: {reason} (status {status})")
        self.engine = engine
        self.reason = reason
        self.status = status


class AllocationFailedError(QuantError, RuntimeError):
    """The requested engine and every fallback failed; lists each engine and its reason."""

    exit_code = 4

    def __init__(self, attempts: list[tuple[str, str]]) -> None:
        listing = "; ".join(f"{engine}: {reason}" for engine, reason in attempts)
        super().__init__(f"no allocation engine produced weights: {listing}")
        self.attempts = list(attempts)


@dataclass(frozen=True)
class EngineSolution:
    """Weights in the problem's symbol order, and how they were obtained."""

    weights: np.ndarray
    status: str


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """One allocation problem with validated inputs, symbols in sorted order."""

    symbols: tuple[str, ...]
    cov: np.ndarray
    constraints: ConstraintSet
    mu: np.ndarray | None = None
    clusters: Mapping[Hashable, list[str]] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    def volatilities(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def series(self, values: np.ndarray) -> pd.Series:
        """`values` (in the problem's order) as a Series indexed by symbol, sorted."""
        series = pd.Series(values, index=pd.Index(list(self.symbols), name="symbol"), name="weight", dtype="float64")
        return series.sort_index()


def validated_covariance(cov: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
    """Check a covariance DataFrame and return (sorted symbols, matrix in that order).

    Rules: square with the same symbols on both axes, unique symbols, finite, symmetric (relative
    tolerance 1e-8, then symmetrised exactly), strictly positive variances.
    """
    if not isinstance(cov, pd.DataFrame):
        raise DataValidationError(
            f"covariance must be a pandas DataFrame, got {type(cov).__name__}", source="cov", rule="dataframe"
        )
    if cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
        raise DataValidationError(
            f"covariance must be square and non-empty, got shape {cov.shape}", source="cov", rule="square"
        )
    if not cov.columns.is_unique or not cov.index.is_unique:
        raise DataValidationError("covariance has duplicate symbols", source="cov", rule="unique_symbols")
    if set(cov.index) != set(cov.columns):
        differing = sorted(str(s) for s in set(cov.index) ^ set(cov.columns))
        raise DataValidationError(
            f"covariance rows and columns name different symbols: {differing[:5]}", source="cov", rule="same_symbols"
        )
    symbols = tuple(sorted(str(s) for s in cov.columns))
    if len(set(symbols)) != len(symbols):
        raise DataValidationError(
            "covariance symbols collide once converted to text", source="cov", rule="unique_symbols"
        )
    ordered = cov.rename(index=str, columns=str).loc[list(symbols), list(symbols)]
    matrix = ordered.to_numpy(dtype=np.float64, copy=True)
    finite = np.isfinite(matrix)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise DataValidationError(
            "covariance has a non-finite entry", source="cov", column=symbols[col], row=symbols[row], rule="finite"
        )
    scale = float(np.max(np.abs(matrix)))
    asymmetry = float(np.max(np.abs(matrix - matrix.T)))
    if asymmetry > SYMMETRY_TOLERANCE * max(scale, np.finfo(float).tiny):
        raise DataValidationError(
            f"covariance is not symmetric (largest |C - C'| = {asymmetry:.3g})", source="cov", rule="symmetric"
        )
    matrix = 0.5 * (matrix + matrix.T)
    variances = np.diag(matrix)
    bad = np.flatnonzero(variances <= 0)
    if bad.size:
        raise DataValidationError(
            f"variance must be > 0, got {variances[bad[0]]}",
            source="cov",
            column=symbols[bad[0]],
            rule="positive_variance",
        )
    return symbols, matrix


def validated_expected_returns(mu: pd.Series | None, symbols: tuple[str, ...]) -> np.ndarray | None:
    """Expected returns aligned to `symbols` (every symbol needed, finite), or None."""
    if mu is None:
        return None
    if not isinstance(mu, pd.Series):
        raise DataValidationError(f"mu must be a pandas Series, got {type(mu).__name__}", source="mu", rule="series")
    mu = mu.rename(index=str)
    if not mu.index.is_unique:
        raise DataValidationError("mu has duplicate symbols", source="mu", rule="unique_symbols")
    missing = [s for s in symbols if s not in mu.index]
    if missing:
        raise DataValidationError(
            f"mu has no expected return for {len(missing)} symbol(s): {missing[:5]}", source="mu", rule="covers_symbols"
        )
    values = mu.loc[list(symbols)].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataValidationError("mu has a non-finite value", source="mu", row=symbols[bad[0]], rule="finite")
    return values


def canonical_order(matrix: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
    """Positions of the assets (rows of `matrix`, given in symbol order) in an order defined by
    the data alone: variance, then expected return, then the covariance row's sorted values;
    assets equal in all of them keep their symbol order. Exact comparisons only (no sums whose
    rounding would depend on the order), so a permuted input gives the permuted order."""
    variances = np.diag(matrix)
    keys = [variances] if mu is None else [mu, variances]  # np.lexsort: the last key is primary
    order = np.lexsort(keys)  # stable: full ties keep the symbol order
    primary = np.column_stack([k[order] for k in keys])
    tied = np.concatenate(([False], np.all(primary[1:] == primary[:-1], axis=1)))
    if not tied.any():
        return order
    starts = np.flatnonzero(~tied)
    ends = np.append(starts[1:], len(order))
    for start, end in zip(starts, ends, strict=True):
        if end - start > 1:
            group = order[start:end]
            rows = np.sort(matrix[group], axis=1)
            order[start:end] = group[np.lexsort(rows.T[::-1])]
    return order


def build_problem(
    cov: pd.DataFrame,
    bounds: WeightBounds,
    *,
    mu: pd.Series | None = None,
    clusters: ClusterMap | None = None,
    **options: Any,
) -> AllocationProblem:
    """Validate the inputs and resolve the bounds (raising on infeasible bounds) into a problem."""
    sorted_symbols, sorted_matrix = validated_covariance(cov)
    order = canonical_order(sorted_matrix, validated_expected_returns(mu, sorted_symbols))
    symbols = tuple(sorted_symbols[i] for i in order)
    matrix = np.ascontiguousarray(sorted_matrix[np.ix_(order, order)])
    normalised_clusters = None
    if clusters is not None:
        normalised_clusters = {cluster_id: [str(s) for s in members] for cluster_id, members in clusters.items()}
        cluster_codes_for(symbols, normalised_clusters)  # given clusters must partition the symbols
    constraints = resolve_constraints(bounds, symbols, normalised_clusters)
    return AllocationProblem(
        symbols=symbols,
        cov=matrix,
        constraints=constraints,
        mu=validated_expected_returns(mu, symbols),
        clusters=normalised_clusters,
        options=dict(options),
    )


def risk_contributions(weights: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Fraction of portfolio variance from each asset: w_i (C w)_i / (w' C w); sums to 1."""
    marginal = cov @ weights
    contributions = weights * marginal
    variance = float(contributions.sum())
    if not variance > 0:
        raise AllocationSolveError("risk_contributions", f"portfolio variance is {variance}, not positive")
    return contributions / variance
