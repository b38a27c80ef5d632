"""Mean-variance engines solved with cvxpy + CLARABEL: minimum variance and maximum Sharpe.

Formulation notes (measured in `bench/allocation_kernels.py`):

* The quadratic form is written `quad_form(w, psd_wrap(C))`: cvxpy then skips its eigenvalue PSD
  check and hands C to CLARABEL as the objective's P matrix. Writing it as
  `sum_squares(L.T @ w)` with a Cholesky factor L was about twice as slow at N = 1000 (the dense
  factor moves into the constraint matrix), and a plain `quad_form(w, C)` adds the PSD check.
* Minimum variance on large universes uses a working-set (screening) method, because the solver's
  dense KKT factorisation dominates at N = 1000 while the long-only optimum holds few assets:
  solve on a candidate subset with all other assets fixed at their lower bound, check the full
  problem's KKT conditions (reduced cost g_i + nu + lambda_c(i) >= 0 for every asset held at its
  lower bound, with g = 2 C w and nu, lambda the duals of the budget and cluster-cap constraints),
  add the assets that break them and solve again. The result is the optimum of the full problem to
  solver tolerance, not an approximation; when the working set would exceed half the universe the
  full problem is solved directly.
* Maximum Sharpe is the same kind of problem after the usual change of variables (y = kappa w,
  see `solve_max_sharpe`): minimise y'Cy over a cone. It uses the same working-set method: the
  long-only tangency portfolio also holds few assets, the assets outside the subset sit at 0, and
  their reduced costs come from the subproblem's duals (return, budget and cluster-cap rows).
  The full problem took 0.85-1.3 s at N = 1000 (CLARABEL's dense KKT system); the working set
  solves it in a small fraction of that, to the same optimum.
* CLARABEL runs single-threaded so that results are bitwise reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType

import cvxpy as cp
import numpy as np
import pandas as pd

from .allocation_types import AllocationProblem, AllocationSolveError, EngineSolution, build_problem
from .constraints import ClusterMap, ConstraintSet, WeightBounds, constraint_violation, polish_solver_weights

#: Below this many assets the full problem is solved directly (it is already fast).
WORKING_SET_MIN_ASSETS = 150
#: Largest constraint violation accepted from a solver answer after polishing.
SOLUTION_TOLERANCE = 1e-7
#: Single-threaded for bitwise reproducibility; gap tolerances tighter than CLARABEL's 1e-8 default
#: so that weights match closed forms to ~1e-9 (costs one or two extra iterations).
SOLVER_OPTIONS: Mapping[str, float | int] = MappingProxyType(
    {"max_threads": 1, "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
)
ACCEPTED_STATUSES = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


def solve_with_clarabel(problem: cp.Problem, engine: str) -> str:
    try:
        problem.solve(solver=cp.CLARABEL, **dict(SOLVER_OPTIONS))
    except cp.error.SolverError as error:
        raise AllocationSolveError(engine, f"solver error: {error}", status="solver_error") from error
    status = str(problem.status)
    if status not in ACCEPTED_STATUSES:
        raise AllocationSolveError(engine, f"solver returned status {status!r}", status=status)
    return status


def capped_cluster_rows(constraints: ConstraintSet) -> tuple[np.ndarray, np.ndarray] | None:
    """(membership rows, caps) for the clusters whose cap is below 1, or None."""
    if not constraints.has_cluster_caps or constraints.cluster_caps is None:
        return None
    capped = np.flatnonzero(constraints.cluster_caps < 1.0)
    return constraints.cluster_matrix()[capped], constraints.cluster_caps[capped]


def finish_solver_weights(weights: np.ndarray, constraints: ConstraintSet, engine: str, status: str) -> EngineSolution:
    polished = polish_solver_weights(weights, constraints)
    violation = constraint_violation(polished, constraints)
    if not np.all(np.isfinite(polished)) or violation > SOLUTION_TOLERANCE:
        raise AllocationSolveError(engine, f"solver answer breaks the constraints by {violation:.3g}", status=status)
    return EngineSolution(polished, status)


def _min_variance_subproblem(
    cov: np.ndarray, constraints: ConstraintSet, active: np.ndarray
) -> tuple[np.ndarray, str, float, np.ndarray]:
    """Minimum variance over the assets in `active`, the others fixed at their lower bound.

    Returns the full weight vector, the solver status, and the duals (budget nu, cluster lambdas
    per asset) needed for the KKT check of the full problem.
    """
    n_assets = cov.shape[0]
    fixed = np.setdiff1d(np.arange(n_assets), active, assume_unique=True)
    lower, upper = constraints.lower, constraints.upper
    fixed_weights = lower[fixed]
    sub_cov = cov[np.ix_(active, active)]
    weights = cp.Variable(active.size)
    objective = cp.quad_form(weights, cp.psd_wrap(sub_cov))
    if fixed.size and np.any(fixed_weights != 0):
        objective = objective + 2.0 * (cov[np.ix_(active, fixed)] @ fixed_weights) @ weights
    budget = cp.sum(weights) == 1.0 - float(fixed_weights.sum())
    constraints_list = [budget, weights >= lower[active]]
    if np.any(upper[active] < 1.0):
        constraints_list.append(weights <= upper[active])
    capped = capped_cluster_rows(constraints)
    cap_constraint = None
    if capped is not None:
        membership, caps = capped
        cap_constraint = membership[:, active] @ weights <= caps - membership[:, fixed] @ fixed_weights
        constraints_list.append(cap_constraint)
    status = solve_with_clarabel(cp.Problem(cp.Minimize(objective), constraints_list), "min_variance")
    full = lower.copy()
    full[active] = weights.value
    cap_duals = np.zeros(n_assets)
    if cap_constraint is not None and capped is not None and cap_constraint.dual_value is not None:
        cap_duals = capped[0].T @ np.maximum(np.asarray(cap_constraint.dual_value, dtype=float), 0.0)
    budget_dual = float(budget.dual_value) if budget.dual_value is not None else float("nan")
    return full, status, budget_dual, cap_duals


def _initial_working_set(badness: np.ndarray, constraints: ConstraintSet) -> np.ndarray:
    """Assets most likely to be held: the lowest `badness` (e.g. marginal risk).

    With cluster caps, each cluster also contributes its best ceil(1 / max_weight) assets, which is
    enough for the subproblem to reach every cluster's full capacity (so it is feasible whenever the
    full problem is).
    """
    n_assets = badness.shape[0]
    per_cluster = math.ceil(1.0 / float(constraints.upper.min()))
    size = min(n_assets, max(64, 4 * per_cluster))
    ranking = np.lexsort((np.arange(n_assets), badness))
    chosen = np.zeros(n_assets, dtype=bool)
    chosen[ranking[:size]] = True
    if constraints.cluster_codes is not None:
        codes_in_rank_order = constraints.cluster_codes[ranking]
        order_within = np.lexsort((np.arange(n_assets), codes_in_rank_order))
        sorted_codes = codes_in_rank_order[order_within]
        starts = np.searchsorted(sorted_codes, sorted_codes, side="left")
        rank_in_cluster = np.empty(n_assets, dtype=np.int64)
        rank_in_cluster[order_within] = np.arange(n_assets) - starts
        chosen[ranking[rank_in_cluster < per_cluster]] = True
    return np.flatnonzero(chosen)


def _grow_working_set(
    n_assets: int,
    active: np.ndarray,
    solve_on: Callable[[np.ndarray], tuple[np.ndarray, str, np.ndarray | None]],
) -> tuple[np.ndarray, str]:
    """Solve on `active`, add the outside assets whose reduced cost is negative, repeat.

    `solve_on(subset)` returns the full solution vector (0 or the lower bound outside the
    subset), the solver status and every asset's reduced cost (None when the duals are missing:
    then the whole problem is solved). Past half the universe the whole problem is solved too.
    """
    everything = np.arange(n_assets)
    while True:
        if 2 * active.size > n_assets:
            solution, status, _ = solve_on(everything)
            return solution, status
        solution, status, reduced_cost = solve_on(active)
        if reduced_cost is None:
            active = everything
            continue
        outside = np.ones(n_assets, dtype=bool)
        outside[active] = False
        violators = np.flatnonzero(outside & (reduced_cost < 0.0))
        if violators.size == 0:
            return solution, status
        active = np.union1d(active, violators)


def solve_min_variance(problem: AllocationProblem) -> EngineSolution:
    """Long-only (or bounded) minimum-variance portfolio: min w'Cw s.t. sum w = 1 and the bounds.

    Markowitz (1952); working-set method for large N as described in the module docstring.
    """
    cov, constraints = problem.cov, problem.constraints
    n_assets = problem.n_assets

    def solve_on(active: np.ndarray) -> tuple[np.ndarray, str, np.ndarray | None]:
        weights, status, budget_dual, cap_duals = _min_variance_subproblem(cov, constraints, active)
        if not np.isfinite(budget_dual):
            return weights, status, None
        reduced_cost = 2.0 * (cov @ weights) + budget_dual + cap_duals
        scale = max(abs(budget_dual), 2.0 * float(weights @ (cov @ weights)))
        return weights, status, reduced_cost + 1e-6 * scale  # a violation must exceed the solver's noise

    if n_assets < WORKING_SET_MIN_ASSETS:
        weights, status, _ = solve_on(np.arange(n_assets))
    else:
        inverse_variance = 1.0 / np.diag(cov)
        marginal_risk = cov @ (inverse_variance / inverse_variance.sum())
        weights, status = _grow_working_set(n_assets, _initial_working_set(marginal_risk, constraints), solve_on)
    return finish_solver_weights(weights, constraints, "min_variance", status)


def _max_sharpe_subproblem(
    cov: np.ndarray, excess: np.ndarray, constraints: ConstraintSet, active: np.ndarray
) -> tuple[np.ndarray, str, np.ndarray | None]:
    """The homogenised tangency problem over the assets in `active` (the others at 0): scaled
    weights y, the solver status, and every asset's reduced cost from the duals."""
    n_assets = cov.shape[0]
    scaled = cp.Variable(active.size)
    # kappa as its own variable keeps y_i <= u kappa at two non-zeros a row; writing sum(y) in
    # every row instead makes the constraint matrix dense (N x N) and the solve several times slower.
    kappa = cp.Variable()
    earns = excess[active] @ scaled == 1.0
    budget = cp.sum(scaled) == kappa
    constraint_list = [earns, budget, kappa >= 0]
    lower, upper = constraints.lower[active], constraints.upper[active]
    constraint_list.append(scaled >= lower * kappa if np.any(lower != 0) else scaled >= 0)
    if np.any(upper < 1.0) or np.any(lower < 0):
        constraint_list.append(scaled <= upper * kappa)
    capped = capped_cluster_rows(constraints)
    cap_constraint = None
    if capped is not None:
        membership, caps = capped
        cap_constraint = membership[:, active] @ scaled <= caps * kappa
        constraint_list.append(cap_constraint)
    status = solve_with_clarabel(
        cp.Problem(cp.Minimize(cp.quad_form(scaled, cp.psd_wrap(cov[np.ix_(active, active)]))), constraint_list),
        "max_sharpe",
    )
    full = np.zeros(n_assets)
    full[active] = scaled.value
    if earns.dual_value is None or budget.dual_value is None:
        return full, status, None
    # stationarity in an outside y_i (held at its bound 0): 2 (C y)_i + a e_i + b + pi_c(i) >= 0,
    # with a, b the duals of the return and budget rows and pi those of the cluster caps
    cap_duals = np.zeros(n_assets)
    if cap_constraint is not None and capped is not None and cap_constraint.dual_value is not None:
        cap_duals = capped[0].T @ np.maximum(np.asarray(cap_constraint.dual_value, dtype=float), 0.0)
    earns_dual, budget_dual = float(earns.dual_value), float(budget.dual_value)
    gradient = 2.0 * (cov @ full)
    reduced_cost = gradient + earns_dual * excess + budget_dual + cap_duals
    scale = max(float(np.abs(gradient).max()), abs(earns_dual) * float(np.abs(excess).max()), abs(budget_dual))
    return full, status, reduced_cost + 1e-6 * scale


def solve_max_sharpe(problem: AllocationProblem) -> EngineSolution:
    """Tangency portfolio: max (mu - rf)'w / sqrt(w'Cw) s.t. sum w = 1 and the bounds.

    Standard convex reformulation (Cornuejols & Tutuncu 2007, section 8.2): with y = kappa * w and
    kappa = sum(y) >= 0, minimise y'Cy s.t. (mu - rf)'y = 1; bounds become homogeneous,
    lower * kappa <= y_i <= upper * kappa and cluster sums <= cap * kappa; then w = y / sum(y).
    A minimum-variance problem in y, solved by the same working-set method for large long-only
    universes (module docstring). Infeasible when no feasible portfolio has positive excess
    return (e.g. long-only with every mu <= rf); that raises `AllocationSolveError` so `optimize`
    can fall back.
    """
    if problem.mu is None:
        raise AllocationSolveError("max_sharpe", "expected returns (mu) are required", status="missing_input")
    risk_free_rate = float(problem.options.get("risk_free_rate", 0.0))
    excess = problem.mu - risk_free_rate
    cov, constraints = problem.cov, problem.constraints
    if np.all(constraints.lower >= 0) and not np.any(excess > 0):
        raise AllocationSolveError(
            "max_sharpe",
            f"no asset has expected return above the risk-free rate {risk_free_rate}: the tangency portfolio "
            "does not exist for a long-only portfolio",
            status="infeasible",
        )

    def solve_on(active: np.ndarray) -> tuple[np.ndarray, str, np.ndarray | None]:
        return _max_sharpe_subproblem(cov, excess, constraints, active)

    n_assets = problem.n_assets
    # Outside assets sit at 0, their bound, only when no floor is above 0.
    if n_assets < WORKING_SET_MIN_ASSETS or np.any(constraints.lower != 0):
        scaled, status, _ = solve_on(np.arange(n_assets))
    else:
        # the likeliest holdings: the best Sharpe ratios on their own
        sharpe = excess / np.sqrt(np.diag(cov))
        scaled, status = _grow_working_set(n_assets, _initial_working_set(-sharpe, constraints), solve_on)
    total = float(np.sum(scaled))
    if not total > 0:
        raise AllocationSolveError("max_sharpe", f"homogenised solution has sum(y) = {total}", status=status)
    return finish_solver_weights(scaled / total, constraints, "max_sharpe", status)


def min_variance(
    cov: pd.DataFrame, *, bounds: WeightBounds | None = None, clusters: ClusterMap | None = None
) -> pd.Series:
    """Minimum-variance weights within `bounds`; raises `AllocationSolveError` if the solve fails."""
    problem = build_problem(cov, bounds or WeightBounds(), clusters=clusters)
    return problem.series(solve_min_variance(problem).weights)


def max_sharpe(
    cov: pd.DataFrame,
    mu: pd.Series,
    *,
    risk_free_rate: float = 0.0,
    bounds: WeightBounds | None = None,
    clusters: ClusterMap | None = None,
) -> pd.Series:
    """Tangency-portfolio weights within `bounds`; raises `AllocationSolveError` when infeasible."""
    problem = build_problem(cov, bounds or WeightBounds(), mu=mu, clusters=clusters, risk_free_rate=risk_free_rate)
    return problem.series(solve_max_sharpe(problem).weights)
