"""Hierarchical Risk Parity (Lopez de Prado 2016, "Building Diversified Portfolios that Outperform
Out of Sample", J. Portfolio Management 42(4)).

1. Tree clustering: correlation distance d_ij = sqrt(0.5 (1 - rho_ij)) (Mantegna 1999), condensed,
   fed to `scipy.cluster.hierarchy.linkage` with a configurable method (default "ward", as in
   skfolio). The paper's extra "distance of distances" step is not applied.
2. Quasi-diagonalisation: assets ordered by the dendrogram's leaf order (`leaves_list`). Optimal
   leaf ordering (Bar-Joseph et al. 2001) is available but OFF by default: it dominates the run
   time at large N.
3. Recursive bisection, as in the paper's code: the ordered list is split into halves (left gets
   floor(n/2)); each half's variance is that of its inverse-variance portfolio; the left half gets
   alpha = 1 - V_left / (V_left + V_right) of its parent's weight, the right half 1 - alpha.

The bisection is vectorised by level instead of recursing per cluster. With M_ij = C_ij / (d_i d_j)
(d = variances, in leaf order) the inverse-variance variance of a contiguous block [a, b) is
sum_{i,j in [a,b)} M_ij / (sum_{i in [a,b)} 1/d_i)^2, because the block's inverse-variance weights
are (1/d_i) / sum(1/d). With row prefix sums of M computed once (O(N^2)), every block's double sum
is a sum over its rows of two prefix lookups, so each of the ~log2(N) levels costs O(N).

Bounds (`hrp_bounds`, default "bisection") are applied inside the bisection, as skfolio and
Riskfolio-Lib do: each split factor is clamped so that each half's total stays within the sum of
its members' min and max weights, alpha = min(sum(max_L) / P, max(sum(min_L) / P, alpha)), then
1 - alpha likewise for the right half (P the parent's weight). The split keeps the cluster logic
of the tree: a capped cluster passes its excess to its sibling cluster, not to every asset in
proportion. When the bounds are feasible this meets them exactly (the two clamps' intervals
intersect at every node). Cluster caps, which the tree knows nothing of, are then met by
`constraints.project_to_constraints`. "projection" keeps the earlier rule: unbounded bisection,
then the projection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_core.errors import ParamValidationError
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from .allocation_types import AllocationProblem, EngineSolution, build_problem
from .constraints import ClusterMap, WeightBounds, project_to_constraints

LINKAGE_METHODS = ("single", "complete", "average", "weighted", "centroid", "median", "ward")
#: Where HRP meets per-asset bounds: inside the bisection (as skfolio, Riskfolio) or by projection.
HRP_BOUND_RULES = ("bisection", "projection")


def correlation_distance_from_covariance(cov: np.ndarray) -> np.ndarray:
    """Condensed correlation distance sqrt(0.5 (1 - rho)) of a covariance matrix (Mantegna 1999)."""
    inverse_vol = 1.0 / np.sqrt(np.diag(cov))
    correlation = np.clip(cov * np.outer(inverse_vol, inverse_vol), -1.0, 1.0)
    distance = np.sqrt(np.clip(0.5 * (1.0 - correlation), 0.0, None))
    distance = 0.5 * (distance + distance.T)
    np.fill_diagonal(distance, 0.0)
    return squareform(distance, checks=False)


def quasi_diagonal_order(cov: np.ndarray, method: str = "ward", optimal_ordering: bool = False) -> np.ndarray:
    """Leaf order of the correlation-distance dendrogram (step 2 of HRP)."""
    if method not in LINKAGE_METHODS:
        raise ParamValidationError(
            f"unknown linkage method {method!r}; choose one of {list(LINKAGE_METHODS)}",
            param="linkage",
            value=method,
            rule="linkage_method",
        )
    if cov.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    tree = linkage(correlation_distance_from_covariance(cov), method=method, optimal_ordering=optimal_ordering)
    return leaves_list(tree).astype(np.int64)


def _segment_positions(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For contiguous segments [start, end): every covered position and the segment it belongs to."""
    lengths = ends - starts
    segment = np.repeat(np.arange(starts.size), lengths)
    offsets = np.arange(segment.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts[segment] + offsets, segment


def recursive_bisection(
    ordered_cov: np.ndarray, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> np.ndarray:
    """HRP weights (step 3) for a covariance already in quasi-diagonal order; sums to 1.

    `lower`/`upper` (per asset, in the same order) clamp every split (see the module docstring)."""
    n_assets = ordered_cov.shape[0]
    variances = np.diag(ordered_cov)
    inverse_variance = 1.0 / variances
    scaled = ordered_cov * np.outer(inverse_variance, inverse_variance)
    row_prefix = np.zeros((n_assets, n_assets + 1))
    np.cumsum(scaled, axis=1, out=row_prefix[:, 1:])
    inverse_variance_prefix = np.concatenate(([0.0], np.cumsum(inverse_variance)))

    def block_variances(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        positions, segment = _segment_positions(starts, ends)
        rows = row_prefix[positions, ends[segment]] - row_prefix[positions, starts[segment]]
        double_sum = np.bincount(segment, weights=rows, minlength=starts.size)
        weight_total = inverse_variance_prefix[ends] - inverse_variance_prefix[starts]
        return double_sum / (weight_total * weight_total)

    bounded = lower is not None and upper is not None
    if bounded:
        lower_prefix = np.concatenate(([0.0], np.cumsum(lower)))
        upper_prefix = np.concatenate(([0.0], np.cumsum(upper)))
    weights = np.ones(n_assets)
    starts, ends = (np.array([0]), np.array([n_assets])) if n_assets > 1 else (np.array([], dtype=np.int64),) * 2
    while starts.size:
        middles = starts + (ends - starts) // 2
        left_variance = block_variances(starts, middles)
        right_variance = block_variances(middles, ends)
        alpha = 1.0 - left_variance / (left_variance + right_variance)
        if bounded:
            parent = weights[starts]  # every member of a block carries its block's weight so far
            left_min, left_max = (p[middles] - p[starts] for p in (lower_prefix, upper_prefix))
            right_min, right_max = (p[ends] - p[middles] for p in (lower_prefix, upper_prefix))
            alpha = np.minimum(left_max / parent, np.maximum(left_min / parent, alpha))
            alpha = 1.0 - np.minimum(right_max / parent, np.maximum(right_min / parent, 1.0 - alpha))
        child_starts = np.concatenate((starts, middles))
        child_ends = np.concatenate((middles, ends))
        factors = np.concatenate((alpha, 1.0 - alpha))
        positions, segment = _segment_positions(child_starts, child_ends)
        weights[positions] *= factors[segment]
        splittable = child_ends - child_starts > 1
        starts, ends = child_starts[splittable], child_ends[splittable]
    # the clamped splits keep the total at 1 exactly in exact arithmetic; dividing would move a
    # weight clamped to its bound off it by rounding
    return weights if bounded else weights / weights.sum()


def solve_hrp(problem: AllocationProblem) -> EngineSolution:
    """HRP weights in the problem's order, within the bounds (see the module docstring)."""
    method = str(problem.options.get("linkage", "ward"))
    optimal_ordering = bool(problem.options.get("optimal_ordering", False))
    rule = str(problem.options.get("hrp_bounds", "bisection"))
    if rule not in HRP_BOUND_RULES:
        raise ParamValidationError(
            f"unknown hrp_bounds {rule!r}; choose one of {list(HRP_BOUND_RULES)}",
            param="hrp_bounds", value=rule, rule="hrp_bounds",
        )
    constraints = problem.constraints
    order = quasi_diagonal_order(problem.cov, method, optimal_ordering)
    in_bisection = rule == "bisection" and not constraints.is_unconstrained_long_only
    bounds = (constraints.lower[order], constraints.upper[order]) if in_bisection else (None, None)
    weights = np.empty(problem.n_assets)
    weights[order] = recursive_bisection(problem.cov[np.ix_(order, order)], *bounds)
    if constraints.is_unconstrained_long_only or (in_bisection and not constraints.has_cluster_caps):
        return EngineSolution(weights, "closed_form")
    return EngineSolution(project_to_constraints(weights, constraints), "closed_form")


def hierarchical_risk_parity(
    cov: pd.DataFrame,
    *,
    bounds: WeightBounds | None = None,
    clusters: ClusterMap | None = None,
    linkage_method: str = "ward",
    optimal_ordering: bool = False,
    hrp_bounds: str = "bisection",
) -> pd.Series:
    """HRP weights for `cov` within `bounds` (see the module docstring for the method)."""
    problem = build_problem(
        cov, bounds or WeightBounds(), clusters=clusters, linkage=linkage_method, optimal_ordering=optimal_ordering,
        hrp_bounds=hrp_bounds,
    )
    return problem.series(solve_hrp(problem).weights)
