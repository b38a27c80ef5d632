"""Allocation dispatcher: run one engine, fall back along a chain, report what happened.

`optimize` validates every input and the feasibility of the bounds first (raising
`ParamValidationError` / `DataValidationError` before any solve), then tries the requested engine
and, when it fails (infeasible model, solver error, non-convergence: `AllocationSolveError`), each
fallback engine in turn. The result names the engine that produced the weights, the solver status
and every (engine, reason) that failed before it. Engines and their methods:

==================  ==========================================================  =====================
name                method                                                      module
==================  ==========================================================  =====================
equal_weight        1/N, projected onto the bounds                              allocation_heuristics
inverse_volatility  w ~ 1/sigma, projected onto the bounds                      allocation_heuristics
min_variance        min w'Cw (Markowitz), cvxpy + CLARABEL, working set         allocation_convex
max_sharpe          tangency portfolio, homogenised convex form, cvxpy          allocation_convex
risk_parity         exact ERC by Newton (Spinu 2013); bounds: constrained       allocation_risk_parity
                    risk budgeting (Richard & Roncalli 2019) by active set
hrp                 Lopez de Prado (2016), vectorised bisection, bounds in it   hrp
cluster             engine within clusters, engine across clusters              allocation_cluster
==================  ==========================================================  =====================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from quant_core.errors import ParamValidationError, close_matches

from .allocation_cluster import check_level_engine, solve_cluster
from .allocation_convex import solve_max_sharpe, solve_min_variance
from .allocation_heuristics import solve_equal_weight, solve_inverse_volatility
from .allocation_risk_parity import solve_risk_parity
from .allocation_types import (
    AllocationFailedError,
    AllocationProblem,
    AllocationSolveError,
    EngineSolution,
    build_problem,
    risk_contributions,
)
from .constraints import ClusterMap, WeightBounds, constraint_violation
from .hrp import solve_hrp

DEFAULT_FALLBACK = ("min_variance", "inverse_volatility", "equal_weight")
#: Largest constraint violation accepted in a final answer (weights sum to 1 within this, too).
RESULT_TOLERANCE = 1e-9

BASE_ENGINES: Mapping[str, Callable[[AllocationProblem], EngineSolution]] = MappingProxyType(
    {
        "equal_weight": solve_equal_weight,
        "inverse_volatility": solve_inverse_volatility,
        "min_variance": solve_min_variance,
        "max_sharpe": solve_max_sharpe,
        "risk_parity": solve_risk_parity,
        "hrp": solve_hrp,
    }
)


def _solve_cluster_engine(problem: AllocationProblem) -> EngineSolution:
    return solve_cluster(problem, BASE_ENGINES)


ENGINES: Mapping[str, Callable[[AllocationProblem], EngineSolution]] = MappingProxyType(
    {**BASE_ENGINES, "cluster": _solve_cluster_engine}
)


@dataclass(frozen=True)
class AllocationResult:
    """Weights (indexed by symbol, sorted) and the record of how they were produced.

    `engine` is the engine that produced the weights; `requested_engine` the one asked for;
    `fallbacks_tried` lists (engine, reason) for each engine that failed before it;
    `risk_contributions` is each asset's fraction of portfolio variance (sums to 1).
    """

    weights: pd.Series
    engine: str
    requested_engine: str
    solver_status: str
    fallbacks_tried: list[tuple[str, str]] = field(default_factory=list)
    risk_contributions: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64"))

    @property
    def used_fallback(self) -> bool:
        return self.engine != self.requested_engine


def _check_engine_name(name: str, param: str) -> None:
    if name not in ENGINES:
        suggestions = close_matches(name, ENGINES)
        raise ParamValidationError(
            f"unknown allocation engine {name!r}; choose one of {sorted(ENGINES)}"
            + (f" (did you mean {suggestions[0]!r}?)" if suggestions else ""),
            param=param,
            value=name,
            rule="known_engine",
        )


def _check_requested_inputs(engine: str, problem: AllocationProblem) -> None:
    """Inputs the requested engine cannot run without are a parameter error, not a solve failure."""
    if engine == "max_sharpe" and problem.mu is None:
        raise ParamValidationError(
            "engine 'max_sharpe' needs expected returns: pass mu (a Series indexed by symbol)",
            param="mu",
            rule="mu_required",
        )
    if engine == "cluster":
        if problem.clusters is None:
            raise ParamValidationError(
                "engine 'cluster' needs clusters={cluster_id: [symbols]}", param="clusters", rule="clusters_required"
            )
        check_level_engine(str(problem.options["within_engine"]), "within_engine", BASE_ENGINES)
        check_level_engine(str(problem.options["across_engine"]), "across_engine", BASE_ENGINES)


def optimize(
    engine: str,
    *,
    cov: pd.DataFrame,
    mu: pd.Series | None = None,
    clusters: ClusterMap | None = None,
    bounds: WeightBounds | None = None,
    linkage: str = "ward",
    fallback: Sequence[str] = DEFAULT_FALLBACK,
    risk_free_rate: float = 0.0,
    optimal_ordering: bool = False,
    hrp_bounds: str = "bisection",
    within_engine: str = "inverse_volatility",
    across_engine: str = "risk_parity",
) -> AllocationResult:
    """Allocate with `engine`, falling back along `fallback` if it fails; see the module docstring.

    `cov` is an annualised covariance (e.g. from `kernels.covariance.covariance`); `mu` annualised
    expected returns (needed by max_sharpe); `clusters` maps cluster ids to symbols (needed by the
    cluster engine and by cluster caps). `linkage`/`optimal_ordering`/`hrp_bounds` configure HRP;
    `within_engine`/`across_engine` the cluster engine. Raises `ParamValidationError` for unknown
    engines, missing inputs and infeasible bounds (before any solve) and `AllocationFailedError`
    only when every engine of the chain failed.
    """
    _check_engine_name(engine, "engine")
    for name in fallback:
        _check_engine_name(name, "fallback")
    problem = build_problem(
        cov,
        bounds or WeightBounds(),
        mu=mu,
        clusters=clusters,
        risk_free_rate=float(risk_free_rate),
        linkage=linkage,
        optimal_ordering=optimal_ordering,
        hrp_bounds=hrp_bounds,
        within_engine=within_engine,
        across_engine=across_engine,
    )
    _check_requested_inputs(engine, problem)
    chain = list(dict.fromkeys([engine, *fallback]))
    failures: list[tuple[str, str]] = []
    for name in chain:
        try:
            solution = ENGINES[name](problem)
            contributions = risk_contributions(solution.weights, problem.cov)
        except AllocationSolveError as error:
            failures.append((name, f"{error.reason} (status {error.status})"))
            continue
        except ParamValidationError as error:
            if name == engine:
                raise
            failures.append((name, f"cannot run: {error.message}"))
            continue
        weights = solution.weights
        violation = constraint_violation(weights, problem.constraints) if np.all(np.isfinite(weights)) else np.inf
        if violation > RESULT_TOLERANCE:
            failures.append((name, f"weights break the constraints by {violation:.3g} (status {solution.status})"))
            continue
        return AllocationResult(
            weights=problem.series(weights),
            engine=name,
            requested_engine=engine,
            solver_status=solution.status,
            fallbacks_tried=failures,
            risk_contributions=problem.series(contributions).rename("risk_contribution"),
        )
    raise AllocationFailedError(failures)
