"""Weight constraints shared by every allocation engine.

`WeightBounds` is what a user writes (scalar bounds and optional cluster caps). `resolve_constraints`
checks it against the symbols and clusters of one problem and turns it into per-asset arrays
(`ConstraintSet`), raising `ParamValidationError` for bounds that no portfolio can satisfy, before
any solver runs. `project_to_constraints` maps any non-negative weight vector (a heuristic's output or
a solver's slightly-off answer) onto the constraint set; see its docstring for the rule.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quant_core.errors import ParamValidationError

from quant_stages.kernels.checks import is_finite_number, is_number

ClusterMap = Mapping[Hashable, Sequence[str]]

#: Slack allowed when comparing bound totals with 1, so that e.g. 10 x 0.1 counts as feasible.
FEASIBILITY_TOLERANCE = 1e-12


@dataclass(frozen=True)
class WeightBounds:
    """Bounds on the final portfolio weights (fractions of capital, summing to 1).

    `min_weight`/`max_weight` apply to every asset. `cluster_caps` caps the total weight of a
    cluster: one float caps every cluster, a dict caps the clusters it names (others are uncapped).
    `long_only=True` requires `min_weight >= 0`; with `long_only=False` a negative `min_weight`
    allows short positions down to that weight.
    """

    long_only: bool = True
    min_weight: float = 0.0
    max_weight: float = 1.0
    cluster_caps: Mapping[Hashable, float] | float | None = None

    def __post_init__(self) -> None:
        for name in ("min_weight", "max_weight"):
            value = getattr(self, name)
            if not is_finite_number(value):
                raise ParamValidationError(
                    f"{name} must be a finite number, got {value!r}", param=name, value=value, rule="finite"
                )
        if self.long_only and self.min_weight < 0:
            raise ParamValidationError(
                f"min_weight {self.min_weight} is negative but long_only=True: a long-only portfolio "
                "cannot hold short positions (set long_only=False to allow them)",
                param="min_weight",
                value=self.min_weight,
                rule="long_only_min_weight",
            )
        if self.max_weight <= 0:
            raise ParamValidationError(
                f"max_weight must be > 0, got {self.max_weight}: no asset could be held",
                param="max_weight",
                value=self.max_weight,
                rule="max_weight_positive",
            )
        if self.min_weight > self.max_weight:
            raise ParamValidationError(
                f"min_weight {self.min_weight} > max_weight {self.max_weight}: no weight fits between them",
                param="min_weight",
                value=self.min_weight,
                rule="min_le_max",
            )
        caps = self.cluster_caps
        if caps is None:
            return
        cap_items = caps.items() if isinstance(caps, Mapping) else [("*", caps)]
        for cluster_id, cap in cap_items:
            if not is_number(cap) or not (0 < cap <= 1):
                raise ParamValidationError(
                    f"cluster cap for cluster {cluster_id!r} must be in (0, 1], got {cap!r}",
                    param="cluster_caps",
                    value=cap,
                    rule="cluster_cap_range",
                )


@dataclass(frozen=True, eq=False)
class ConstraintSet:
    """`WeightBounds` resolved for one ordered list of symbols.

    `lower`/`upper` hold one bound per asset. When caps apply, `cluster_codes[i]` is the position of
    asset i's cluster in `cluster_ids`, and `cluster_caps[k]` the cap of cluster k (1.0 = uncapped).
    """

    symbols: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    cluster_ids: tuple[Hashable, ...] = ()
    cluster_codes: np.ndarray | None = None
    cluster_caps: np.ndarray | None = None

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def has_cluster_caps(self) -> bool:
        return self.cluster_caps is not None and bool(np.any(self.cluster_caps < 1.0))

    @property
    def is_unconstrained_long_only(self) -> bool:
        """True when only w >= 0 and sum(w) = 1 bind (no cap below 1, no floor above 0)."""
        return bool(np.all(self.lower == 0.0) and np.all(self.upper >= 1.0) and not self.has_cluster_caps)

    def cluster_matrix(self) -> np.ndarray:
        """Indicator matrix (clusters x assets) of cluster membership."""
        if self.cluster_codes is None:
            return np.ones((1, self.n_assets))
        matrix = np.zeros((len(self.cluster_ids), self.n_assets))
        matrix[self.cluster_codes, np.arange(self.n_assets)] = 1.0
        return matrix


def cluster_sort_key(cluster_id: Hashable) -> tuple[str, str]:
    """Deterministic order for cluster ids of any hashable type."""
    return (type(cluster_id).__name__, str(cluster_id))


def cluster_codes_for(symbols: Sequence[str], clusters: ClusterMap) -> tuple[tuple[Hashable, ...], np.ndarray]:
    """Check that `clusters` partitions `symbols`; return the sorted cluster ids and each symbol's code."""
    cluster_ids = tuple(sorted(clusters, key=cluster_sort_key))
    position = {symbol: i for i, symbol in enumerate(symbols)}
    codes = np.full(len(symbols), -1, dtype=np.int64)
    for code, cluster_id in enumerate(cluster_ids):
        members = list(clusters[cluster_id])
        if not members:
            raise ParamValidationError(
                f"cluster {cluster_id!r} has no members", param="clusters", value=cluster_id, rule="cluster_not_empty"
            )
        unknown = sorted(str(m) for m in members if m not in position)
        if unknown:
            raise ParamValidationError(
                f"cluster {cluster_id!r} names symbols that are not in the covariance matrix: {unknown[:5]}",
                param="clusters",
                value=unknown,
                rule="cluster_symbols_known",
            )
        indices = np.fromiter((position[m] for m in members), dtype=np.int64, count=len(members))
        taken = indices[codes[indices] != -1]
        if taken.size or len(set(members)) != len(members):
            repeated = sorted({symbols[i] for i in taken} | {m for m in members if members.count(m) > 1})
            raise ParamValidationError(
                f"symbols appear in more than one cluster (or twice in cluster {cluster_id!r}): {repeated[:5]}",
                param="clusters",
                value=repeated,
                rule="clusters_disjoint",
            )
        codes[indices] = code
    missing = [symbols[i] for i in np.flatnonzero(codes == -1)]
    if missing:
        raise ParamValidationError(
            f"{len(missing)} symbol(s) belong to no cluster: {missing[:5]}; every asset needs a cluster",
            param="clusters",
            value=missing,
            rule="clusters_cover_symbols",
        )
    return cluster_ids, codes


def resolve_constraints(
    bounds: WeightBounds, symbols: Sequence[str], clusters: ClusterMap | None = None
) -> ConstraintSet:
    """Turn `bounds` into per-asset arrays for `symbols` and reject infeasible combinations.

    Checked before any solve, each with a message naming the bound: `n * max_weight < 1` (the caps
    cannot add up to a fully invested portfolio), `n * min_weight > 1` (the floors already exceed
    it), a cluster whose floor `n_c * min_weight` is above its cap, and cluster capacities
    `sum_c min(cap_c, n_c * max_weight)` below 1.
    """
    n_assets = len(symbols)
    if n_assets == 0:
        raise ParamValidationError("no assets to allocate", param="cov", value=0, rule="non_empty")
    if n_assets * bounds.max_weight < 1 - FEASIBILITY_TOLERANCE:
        raise ParamValidationError(
            f"max_weight {bounds.max_weight} is infeasible for {n_assets} assets: "
            f"{n_assets} x {bounds.max_weight} = {n_assets * bounds.max_weight:.6g} < 1, "
            "so the weights cannot sum to 1",
            param="max_weight",
            value=bounds.max_weight,
            rule="n_times_max_weight_ge_1",
        )
    if n_assets * bounds.min_weight > 1 + FEASIBILITY_TOLERANCE:
        raise ParamValidationError(
            f"min_weight {bounds.min_weight} is infeasible for {n_assets} assets: "
            f"{n_assets} x {bounds.min_weight} = {n_assets * bounds.min_weight:.6g} > 1, "
            "so the weights cannot sum to 1",
            param="min_weight",
            value=bounds.min_weight,
            rule="n_times_min_weight_le_1",
        )
    lower = np.full(n_assets, float(bounds.min_weight))
    upper = np.full(n_assets, float(bounds.max_weight))
    if bounds.cluster_caps is None:
        return ConstraintSet(symbols=tuple(symbols), lower=lower, upper=upper)
    if clusters is None:
        raise ParamValidationError(
            "cluster_caps are set but no clusters were given: pass clusters={cluster_id: [symbols]}",
            param="cluster_caps",
            value=bounds.cluster_caps,
            rule="cluster_caps_need_clusters",
        )
    cluster_ids, codes = cluster_codes_for(symbols, clusters)
    if isinstance(bounds.cluster_caps, Mapping):
        unknown = sorted(str(c) for c in bounds.cluster_caps if c not in clusters)
        if unknown:
            raise ParamValidationError(
                f"cluster_caps name clusters that do not exist: {unknown}; known clusters: "
                f"{[str(c) for c in cluster_ids][:10]}",
                param="cluster_caps",
                value=unknown,
                rule="cluster_caps_known",
            )
        caps = np.array([float(bounds.cluster_caps.get(c, 1.0)) for c in cluster_ids])
    else:
        caps = np.full(len(cluster_ids), float(bounds.cluster_caps))
    sizes = np.bincount(codes, minlength=len(cluster_ids))
    floors = sizes * bounds.min_weight
    over = np.flatnonzero(floors > caps + FEASIBILITY_TOLERANCE)
    if over.size:
        k = over[0]
        raise ParamValidationError(
            f"cluster cap {caps[k]} of cluster {cluster_ids[k]!r} is below its floor: {sizes[k]} assets x "
            f"min_weight {bounds.min_weight} = {floors[k]:.6g}",
            param="cluster_caps",
            value=float(caps[k]),
            rule="cluster_cap_ge_floor",
        )
    capacity = float(np.minimum(caps, sizes * bounds.max_weight).sum())
    if capacity < 1 - FEASIBILITY_TOLERANCE:
        raise ParamValidationError(
            f"cluster_caps are infeasible: the clusters can hold at most {capacity:.6g} in total "
            f"(sum over clusters of min(cap, size x max_weight {bounds.max_weight})) < 1, so the weights "
            "cannot sum to 1",
            param="cluster_caps",
            value=bounds.cluster_caps,
            rule="cluster_capacity_ge_1",
        )
    return ConstraintSet(
        symbols=tuple(symbols),
        lower=lower,
        upper=upper,
        cluster_ids=cluster_ids,
        cluster_codes=codes,
        cluster_caps=caps,
    )


def _scaled_clip(raw: np.ndarray, lower: np.ndarray, upper: np.ndarray, total: float) -> np.ndarray:
    """Solve sum(clip(s * raw, lower, upper)) = total for s >= 0 and return the clipped vector.

    The sum is continuous and non-decreasing in s, so bisection brackets s; the final s is then
    computed exactly from the set of entries that are not clipped, which makes the sum equal
    `total` up to rounding. If the entries with raw > 0 cannot absorb `total` even at their upper
    bounds, they are filled to the upper bound and the rest is spread over the raw == 0 entries
    as if they had equal tiny weights (the limit of raw + epsilon).
    """
    positive = raw > 0
    at_zero = np.clip(0.0, lower, upper)
    capacity = float(upper[positive].sum() + at_zero[~positive].sum())
    if capacity < total - FEASIBILITY_TOLERANCE and not positive.all():
        result = np.where(positive, upper, 0.0)
        rest = ~positive
        result[rest] = _scaled_clip(np.ones(int(rest.sum())), lower[rest], upper[rest], total - result[positive].sum())
        return result

    def clipped_sum(scale: float) -> float:
        return float(np.clip(scale * raw, lower, upper).sum())

    low, high = 0.0, 1.0
    while clipped_sum(high) < total and high < 1e300:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if clipped_sum(middle) < total:
            low = middle
        else:
            high = middle
    scaled = high * raw
    free = positive & (scaled > lower) & (scaled < upper)
    fixed = np.clip(scaled, lower, upper)
    free_raw = float(raw[free].sum())
    if free_raw > 0:
        exact_scale = (total - float(fixed[~free].sum())) / free_raw
        fixed = np.where(free, np.clip(exact_scale * raw, lower, upper), fixed)
    return fixed


def project_to_constraints(weights: np.ndarray, constraints: ConstraintSet) -> np.ndarray:
    """Map non-negative `weights` onto the constraint set by proportional clip-and-redistribute.

    Rule: w_i = clip(s * raw_i, lower_i, upper_i) with the scale s solved so that the weights sum to
    1. This is the fixed point of the familiar "clip the weights that break a bound, redistribute
    the excess to the others in proportion to their weight, repeat" iteration, solved exactly
    instead of iterated, so an engine's relative view among the unconstrained assets is kept. With
    cluster caps the same rule runs twice: first on cluster totals (bounded by each cluster's floor
    n_c * min_weight and by min(cap_c, n_c * max_weight)), then within each cluster to reach its
    total. Feasibility must already be checked by `resolve_constraints`.
    """
    raw = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    if constraints.cluster_codes is None or not constraints.has_cluster_caps:
        return _scaled_clip(raw, constraints.lower, constraints.upper, 1.0)
    codes = constraints.cluster_codes
    n_clusters = len(constraints.cluster_ids)
    cluster_raw = np.bincount(codes, weights=raw, minlength=n_clusters)
    cluster_floor = np.bincount(codes, weights=constraints.lower, minlength=n_clusters)
    cluster_ceiling = np.minimum(
        constraints.cluster_caps, np.bincount(codes, weights=constraints.upper, minlength=n_clusters)
    )
    totals = _scaled_clip(cluster_raw, cluster_floor, np.maximum(cluster_ceiling, cluster_floor), 1.0)
    result = np.empty_like(raw)
    # One exact 1-d solve per cluster: clusters are few (tens), assets within are vectorised.
    for k in range(n_clusters):
        members = np.flatnonzero(codes == k)
        result[members] = _scaled_clip(raw[members], constraints.lower[members], constraints.upper[members], totals[k])
    return result


def polish_solver_weights(weights: np.ndarray, constraints: ConstraintSet, snap: float = 1e-9) -> np.ndarray:
    """Clean an interior-point answer that satisfies the constraints only to solver tolerance.

    Weights within `snap` of a bound are set to it and all are clipped into [lower, upper]. For a
    long-only set the result then goes through `project_to_constraints`, which restores the budget
    and any cluster cap exceeded by solver tolerance while moving weights by that tolerance only.
    With short positions allowed, the remaining budget error is spread equally over the assets
    strictly inside their bounds whose cluster is not at its cap.
    """
    polished = np.clip(np.asarray(weights, dtype=float), constraints.lower, constraints.upper)
    polished = np.where(np.abs(polished - constraints.lower) <= snap, constraints.lower, polished)
    polished = np.where(np.abs(polished - constraints.upper) <= snap, constraints.upper, polished)
    if np.all(constraints.lower >= 0):
        return project_to_constraints(polished, constraints)
    residual = 1.0 - float(polished.sum())
    free = (polished > constraints.lower) & (polished < constraints.upper)
    if residual > 0 and constraints.has_cluster_caps and constraints.cluster_codes is not None:
        totals = np.bincount(constraints.cluster_codes, weights=polished, minlength=len(constraints.cluster_ids))
        at_cap = totals >= constraints.cluster_caps - snap
        free &= ~at_cap[constraints.cluster_codes]
    if free.any():
        polished[free] += residual / int(free.sum())
    return polished


def constraint_violation(weights: np.ndarray, constraints: ConstraintSet) -> float:
    """Largest violation of any constraint by `weights` (0.0 when all hold exactly)."""
    worst = max(
        abs(float(weights.sum()) - 1.0),
        float(np.max(constraints.lower - weights, initial=0.0)),
        float(np.max(weights - constraints.upper, initial=0.0)),
    )
    if constraints.has_cluster_caps and constraints.cluster_codes is not None:
        totals = np.bincount(constraints.cluster_codes, weights=weights, minlength=len(constraints.cluster_ids))
        worst = max(worst, float(np.max(totals - constraints.cluster_caps, initial=0.0)))
    return worst
