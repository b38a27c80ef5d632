"""Cluster-aware allocation: an engine within each cluster, then an engine across clusters.

Method (in the spirit of Raffinot 2017, "Hierarchical Clustering-Based Asset Allocation", with the
clusters given instead of cut from a tree): for each cluster c the `within_engine` allocates the
cluster's own covariance block, giving a cluster portfolio u_c; the cluster portfolios form K
synthetic assets with covariance U C U' (and expected returns U mu); the `across_engine` allocates
them; an asset's weight is its cluster's weight times its weight inside the cluster. Both levels
run long-only without caps; the final weights are then projected onto the bounds with
`constraints.project_to_constraints`, which is where min/max weights and cluster caps are applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from quant_core.errors import ParamValidationError, close_matches

from .allocation_types import AllocationProblem, EngineSolution
from .constraints import WeightBounds, cluster_codes_for, project_to_constraints, resolve_constraints

Engine = Callable[[AllocationProblem], EngineSolution]


def _sub_problem(
    problem: AllocationProblem, symbols: tuple[str, ...], cov: np.ndarray, mu: np.ndarray | None
) -> AllocationProblem:
    return AllocationProblem(
        symbols=symbols,
        cov=cov,
        constraints=resolve_constraints(WeightBounds(), symbols),
        mu=mu,
        options=problem.options,
    )


def check_level_engine(name: str, role: str, engines: Mapping[str, Engine]) -> None:
    """Reject an unknown (or recursive) engine name for one level of the cluster engine."""
    if name not in engines:
        hint = close_matches(name, engines)
        raise ParamValidationError(
            f"unknown {role} {name!r} for the cluster engine; choose one of {sorted(engines)}"
            + (f" (did you mean {hint[0]!r}?)" if hint else ""),
            param=role,
            value=name,
            rule="known_engine",
        )


def solve_cluster(problem: AllocationProblem, engines: Mapping[str, Engine]) -> EngineSolution:
    """Weights of the cluster-aware engine; `engines` are the non-cluster engines by name."""
    if problem.clusters is None:
        raise ParamValidationError(
            "the cluster engine needs clusters={cluster_id: [symbols]}", param="clusters", rule="clusters_required"
        )
    within_name = str(problem.options.get("within_engine", "inverse_volatility"))
    across_name = str(problem.options.get("across_engine", "risk_parity"))
    check_level_engine(within_name, "within_engine", engines)
    check_level_engine(across_name, "across_engine", engines)
    cluster_ids, codes = cluster_codes_for(problem.symbols, problem.clusters)
    n_clusters = len(cluster_ids)
    within = np.zeros(problem.n_assets)
    within_statuses: set[str] = set()
    # One small solve per cluster: clusters are few; each solve is vectorised over its assets.
    for code in range(n_clusters):
        members = np.flatnonzero(codes == code)
        sub = _sub_problem(
            problem,
            tuple(problem.symbols[i] for i in members),
            problem.cov[np.ix_(members, members)],
            None if problem.mu is None else problem.mu[members],
        )
        solution = engines[within_name](sub)
        within[members] = solution.weights
        within_statuses.add(solution.status)
    portfolios = np.zeros((n_clusters, problem.n_assets))
    portfolios[codes, np.arange(problem.n_assets)] = within
    cluster_cov = portfolios @ problem.cov @ portfolios.T
    cluster_cov = 0.5 * (cluster_cov + cluster_cov.T)
    cluster_mu = None if problem.mu is None else portfolios @ problem.mu
    # Zero-padded positions keep the synthetic names in the sorted order of the cluster ids.
    width = len(str(n_clusters))
    cluster_symbols = tuple(f"cluster_{k:0{width}d}" for k in range(n_clusters))
    across = engines[across_name](_sub_problem(problem, cluster_symbols, cluster_cov, cluster_mu))
    weights = across.weights[codes] * within
    if problem.constraints.is_unconstrained_long_only:
        weights = weights / weights.sum()
    else:
        weights = project_to_constraints(weights, problem.constraints)
    return EngineSolution(weights, f"across={across.status}; within={','.join(sorted(within_statuses))}")
