"""From strategy atoms to portfolio weights: shared by `allocation.optimize` and the walk-forward
backtest (which re-allocates on every train window), and by `meta.optimize` across sleeves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from quant_core.errors import ParamValidationError

from quant_stages.allocation_params import WEIGHT_COLUMNS, AllocationParams, EngineParams
from quant_stages.data.returns import periods_per_year
from quant_stages.kernels.allocation import AllocationResult, optimize
from quant_stages.kernels.constraints import WeightBounds
from quant_stages.kernels.covariance import covariance


def estimate(returns: pd.DataFrame, params: EngineParams, ppy: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Annualised covariance and mean of `returns` (each column by its own calendar)."""
    window = returns.iloc[-params.lookback :] if params.lookback else returns
    cov = covariance(window, params.covariance, ppy, min_periods=params.min_periods)
    mu = (window.mean(skipna=True) * ppy.reindex(window.columns)).reindex(cov.index)
    return cov, mu


def run_engine(
    params: EngineParams,
    returns: pd.DataFrame,
    *,
    bounds: WeightBounds,
    clusters: Mapping[str, Sequence[str]] | None = None,
    ppy: pd.Series | None = None,
) -> AllocationResult:
    ppy = periods_per_year(returns) if ppy is None else ppy
    cov, mu = estimate(returns, params, ppy)
    return optimize(
        params.engine, cov=cov, mu=mu, clusters=clusters, bounds=bounds, linkage=params.linkage, hrp_bounds=params.hrp_bounds,
        fallback=tuple(params.fallback), risk_free_rate=params.risk_free_rate,
        within_engine=params.within_engine, across_engine=params.across_engine,
    )


def allocate_atoms(
    params: AllocationParams,
    atom_returns: pd.DataFrame,
    atoms: Sequence[Mapping[str, Any]],
    clusters: Mapping[str, Sequence[str]],
    asset_ppy: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, AllocationResult]:
    """Weights of each atom as rows `symbol, atom, weight, net_weight, direction, cluster,
    risk_contribution` (sorted by atom), and the engine's record."""
    by_atom = {a["id"]: a for a in atoms}
    cluster_of = {symbol: cid for cid, members in clusters.items() for symbol in members}
    atom_clusters: dict[str, list[str]] = {}
    for atom_id, atom in by_atom.items():
        atom_clusters.setdefault(cluster_of.get(atom["asset"], "unclustered"), []).append(atom_id)
    if asset_ppy is not None:
        ppy = pd.Series({a: float(asset_ppy.get(by_atom[a]["asset"], 252.0)) for a in atom_returns.columns})
    else:
        ppy = periods_per_year(atom_returns)
    bounds = WeightBounds(min_weight=params.min_weight, max_weight=params.max_weight, cluster_caps=params.cluster_cap)
    result = run_engine(params, atom_returns[sorted(by_atom)], bounds=bounds, clusters=atom_clusters, ppy=ppy)
    rows = []
    for atom_id, weight in result.weights.items():
        atom = by_atom[atom_id]
        sign = -1.0 if atom["direction"] == "short" else 1.0
        rows.append({
            "symbol": atom["asset"], "atom": atom_id, "weight": float(weight), "net_weight": sign * float(weight),
            "direction": atom["direction"], "cluster": cluster_of.get(atom["asset"], "unclustered"),
            "risk_contribution": float(result.risk_contributions.get(atom_id, np.nan)),
        })
    table = pd.DataFrame(rows, columns=WEIGHT_COLUMNS).sort_values("atom", kind="stable").reset_index(drop=True)
    return table, result


#: Positions listed inline in `allocation.top_weights` (the whole table is the weights artifact).
TOP_WEIGHTS = 10


def top_weights(table: pd.DataFrame, count: int = TOP_WEIGHTS) -> list[dict[str, Any]]:
    """The `count` largest positions by weight (ties by atom), as small JSON rows: what a reader
    of the context (the CLI, an agent) sees of the allocation without decoding the artifact."""
    ranked = table.sort_values(["weight", "atom"], ascending=[False, True], kind="stable").head(count)
    return [
        {"symbol": r.symbol, "weight": float(r.weight), "direction": r.direction, "cluster": r.cluster}
        for r in ranked.itertuples()
    ]


def allocation_record(result: AllocationResult) -> dict[str, Any]:
    return {
        "engine": result.engine, "requested_engine": result.requested_engine,
        "solver_status": result.solver_status,
        "fallbacks_tried": [{"engine": e, "reason": r} for e, r in result.fallbacks_tried],
    }


def project_to_box(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, what: str) -> np.ndarray:
    """Euclidean projection onto {lower <= w <= upper, sum w = 1}: w = clip(v - tau), tau by
    bisection (the standard simplex-projection argument, e.g. Duchi et al. 2008)."""
    if lower.sum() > 1 + 1e-12 or upper.sum() < 1 - 1e-12:
        raise ParamValidationError(
            f"{what}: bounds are infeasible: the minimum weights sum to {lower.sum():.4g} and the "
            f"maximum weights to {upper.sum():.4g}; weights must sum to 1",
            param="min_weight/max_weight", rule="feasible",
        )
    lo, hi = float((weights - upper).min()) - 1.0, float((weights - lower).max()) + 1.0
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        total = np.clip(weights - tau, lower, upper).sum()
        if total > 1.0:
            lo = tau
        else:
            hi = tau
    projected = np.clip(weights - 0.5 * (lo + hi), lower, upper)
    return projected / projected.sum()
