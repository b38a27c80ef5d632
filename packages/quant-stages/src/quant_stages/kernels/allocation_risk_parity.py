"""Equal-risk-contribution (risk parity) engine.

Exact ERC via the convex log-barrier problem of Maillard, Roncalli & Teiletche (2010) and Spinu
(2013): the unique minimiser x* > 0 of

    F(x) = 1/2 x'Rx - sum_i b_i log x_i,        b_i = 1/N,

satisfies x_i (R x)_i = b_i, so x* / sum(x*) has equal risk contributions. It is solved on the
correlation matrix R (weights are then x / sigma), which Spinu recommends for conditioning, by
Newton steps with a Cholesky solve. N F is self-concordant, so the damped step
x - Delta / (1 + lambda), lambda the Newton decrement of N F, stays positive and converges
globally (quadratically once lambda < 0.25); a backtracking line search starts from the longest
positive step and never goes below the damped one, which saves most damped iterations.

Bounds: when the exact ERC portfolio already satisfies them it is returned as is. Otherwise the
constrained risk-budgeting problem of Richard & Roncalli (2019) is solved: the same F subject to the
bounds written homogeneously on y = x / sigma, i.e. lower * sum(y) <= y_i <= upper * sum(y) and
cluster sums <= cap * sum(y), a cone, so the normalised solution does not depend on the barrier's
scale. The capped assets then carry less than 1/N of the risk and the others' contributions are
close to, but no longer exactly, equal: the documented price of the constraints. It is solved by a
primal active-set method (Nocedal & Wright 2006, section 16.5) whose inner steps are the same damped
Newton steps restricted to the working set's null space; it starts from the unconstrained ERC
weights projected onto the bounds, whose clipped assets are usually the final active set. (A cvxpy
exponential-cone formulation of the same problem took minutes at N = 1000.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg

from .allocation_convex import capped_cluster_rows, finish_solver_weights
from .allocation_types import AllocationProblem, AllocationSolveError, EngineSolution, build_problem
from .constraints import ClusterMap, ConstraintSet, WeightBounds, constraint_violation, project_to_constraints

NEWTON_MAX_ITERATIONS = 100
#: Stop when every x_i (R x)_i is within this relative distance of its budget b_i.
NEWTON_TOLERANCE = 1e-12
#: Below this Newton decrement (of N F) full steps are taken (quadratic convergence region).
FULL_STEP_DECREMENT = 0.25
ACTIVE_SET_MAX_ITERATIONS = 500
#: Converged on a working set when the Newton step changes no x_i by more than this fraction
#: (the rounding floor of the step is about 1e-12 at N = 1000).
ACTIVE_SET_TOLERANCE = 1e-10


def _cholesky(matrix: np.ndarray) -> tuple[np.ndarray, bool]:
    try:
        return scipy.linalg.cho_factor(matrix, lower=True, check_finite=False)
    except np.linalg.LinAlgError as error:
        raise AllocationSolveError(
            "risk_parity",
            "covariance is not positive definite (Newton Hessian has no Cholesky factor)",
            status="numerical_error",
        ) from error


def _damping(decrement_squared: float) -> float:
    decrement = float(np.sqrt(max(decrement_squared, 0.0)))
    return 1.0 if decrement < FULL_STEP_DECREMENT else 1.0 / (1.0 + decrement)


def _objective(correlation: np.ndarray, x: np.ndarray, budget: float) -> float:
    return 0.5 * float(x @ correlation @ x) - budget * float(np.sum(np.log(x)))


def _positive_step_bound(x: np.ndarray, step: np.ndarray) -> float:
    """Longest step keeping x + length * step > 0, with a 1% margin, capped at 1 (full Newton)."""
    shrinking = step < 0
    if not shrinking.any():
        return 1.0
    return min(1.0, 0.99 * float(np.min(-x[shrinking] / step[shrinking])))


def _step_length(
    correlation: np.ndarray, x: np.ndarray, step: np.ndarray, slope: float, maximum: float, budget: float
) -> float:
    """Newton step length: backtracking (Armijo, factor 1/2) from `maximum` down to the damped step.

    The damped step 1 / (1 + lambda), lambda the Newton decrement of N F (self-concordant), is the
    floor: it always decreases F (Nesterov & Nemirovski), so backtracking only ever lengthens it.
    """
    n_assets = x.size
    length = maximum
    floor = min(maximum, _damping(-n_assets * slope))
    if length <= floor:
        return length
    value = _objective(correlation, x, budget)
    while length > floor and _objective(correlation, x + length * step, budget) > value + 0.25 * length * slope:
        length = max(0.5 * length, floor)
    return length


def equal_risk_contribution_newton(correlation: np.ndarray) -> np.ndarray:
    """Minimiser x* of 1/2 x'Rx - (1/N) sum log x (Spinu 2013), by damped Newton with Cholesky.

    Raises `AllocationSolveError` if R is not positive definite along the path or Newton does not
    reach `NEWTON_TOLERANCE` within `NEWTON_MAX_ITERATIONS`.
    """
    n_assets = correlation.shape[0]
    budget = 1.0 / n_assets
    x = np.full(n_assets, 1.0 / np.sqrt(correlation.sum()))
    for _ in range(NEWTON_MAX_ITERATIONS):
        marginal = correlation @ x
        if np.max(np.abs(x * marginal - budget)) <= NEWTON_TOLERANCE * budget:
            return x
        gradient = marginal - budget / x
        factor = _cholesky(correlation + np.diag(budget / (x * x)))
        step = -scipy.linalg.cho_solve(factor, gradient, check_finite=False)
        slope = float(gradient @ step)
        x = x + _step_length(correlation, x, step, slope, _positive_step_bound(x, step), budget) * step
        if not np.all(x > 0):
            raise AllocationSolveError(
                "risk_parity", "Newton iterate left the positive orthant", status="numerical_error"
            )
    raise AllocationSolveError(
        "risk_parity", f"Newton did not converge in {NEWTON_MAX_ITERATIONS} iterations", status="max_iterations"
    )


def homogeneous_constraint_rows(constraints: ConstraintSet) -> np.ndarray:
    """Rows g with g'y <= 0 for every bound, written on unnormalised weights y (a cone).

    y_i <= u_i sum(y): e_i - u_i 1; y_i >= l_i sum(y): l_i 1 - e_i; cluster c: m_c - cap_c 1.
    Rows that cannot bind (u_i >= 1, l_i <= 0) are left out.
    """
    n_assets = constraints.n_assets
    identity = np.eye(n_assets)
    rows = []
    capped_assets = np.flatnonzero(constraints.upper < 1.0)
    if capped_assets.size:
        rows.append(identity[capped_assets] - constraints.upper[capped_assets, None])
    floored_assets = np.flatnonzero(constraints.lower > 0.0)
    if floored_assets.size:
        rows.append(constraints.lower[floored_assets, None] - identity[floored_assets])
    capped = capped_cluster_rows(constraints)
    if capped is not None:
        membership, caps = capped
        rows.append(membership - caps[:, None])
    return np.vstack(rows) if rows else np.zeros((0, n_assets))


def constrained_risk_budgeting(correlation: np.ndarray, rows: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Minimiser of 1/2 x'Rx - (1/N) sum log x subject to rows @ x <= 0, by primal active set.

    `start` must be strictly positive and satisfy the constraints. Each iteration takes a damped
    Newton step in the null space of the working set W (solved through the Schur complement
    G_W H^-1 G_W'), shortened by the ratio test so that no other constraint is crossed; a blocking
    constraint joins W. When Newton has converged on W, a constraint with a negative multiplier
    leaves W; when none has, the KKT conditions of the full problem hold.
    """
    n_assets = correlation.shape[0]
    budget = 1.0 / n_assets
    x = start.copy()
    slack_scale = float(np.abs(rows).sum(axis=1).max(initial=1.0)) * float(x.max())
    working = [int(k) for k in np.flatnonzero(rows @ x >= -1e-12 * slack_scale)]
    for _ in range(ACTIVE_SET_MAX_ITERATIONS):
        gradient = correlation @ x - budget / x
        factor = _cholesky(correlation + np.diag(budget / (x * x)))
        step = -scipy.linalg.cho_solve(factor, gradient, check_finite=False)
        multipliers = np.zeros(0)
        if working:
            active = rows[working]
            projected = scipy.linalg.cho_solve(factor, active.T, check_finite=False)
            schur = active @ projected
            try:
                multipliers = scipy.linalg.solve(schur, active @ step, assume_a="pos", check_finite=False)
            except np.linalg.LinAlgError:
                multipliers = np.linalg.lstsq(schur, active @ step, rcond=None)[0]
            step = step - projected @ multipliers
        decrement_squared = -n_assets * float(gradient @ step)
        if float(np.max(np.abs(step) / x)) < ACTIVE_SET_TOLERANCE:
            if multipliers.size and multipliers.min() < -1e-9 * max(1.0, float(np.abs(multipliers).max())):
                working.pop(int(np.argmin(multipliers)))
                continue
            return x
        maximum = _positive_step_bound(x, step)
        rates = rows @ step
        rates[working] = 0.0
        approaching = np.flatnonzero(rates > 0)
        blocking = None
        if approaching.size:
            ratios = np.maximum(-(rows[approaching] @ x), 0.0) / rates[approaching]
            nearest = int(np.argmin(ratios))
            if ratios[nearest] < maximum:
                maximum, blocking = float(ratios[nearest]), int(approaching[nearest])
        length = _step_length(correlation, x, step, -decrement_squared / n_assets, maximum, budget)
        if length < maximum:
            blocking = None
        x = x + length * step
        if blocking is not None:
            working.append(blocking)
    raise AllocationSolveError(
        "risk_parity",
        f"constrained risk budgeting did not converge in {ACTIVE_SET_MAX_ITERATIONS} iterations",
        status="max_iterations",
    )


def solve_risk_parity(problem: AllocationProblem) -> EngineSolution:
    """Equal-risk-contribution weights (see module docstring for the method and the bounds rule)."""
    constraints = problem.constraints
    volatility = problem.volatilities()
    inverse_vol = 1.0 / volatility
    correlation = problem.cov * np.outer(inverse_vol, inverse_vol)
    x = equal_risk_contribution_newton(correlation)
    weights = x * inverse_vol
    weights = weights / weights.sum()
    if constraint_violation(weights, constraints) <= 1e-12:
        return EngineSolution(weights, "newton_converged")
    n_assets = problem.n_assets
    if n_assets * constraints.upper.min() <= 1 + 1e-12 or n_assets * constraints.lower.max() >= 1 - 1e-12:
        # The bounds leave one portfolio: every asset at 1/N.
        return EngineSolution(np.full(n_assets, 1.0 / n_assets), "bounds_determined")
    start_weights = project_to_constraints(weights, constraints)
    rows = homogeneous_constraint_rows(constraints) * inverse_vol[None, :]
    start = start_weights * volatility
    # Optimal scale of F along the ray through the start: c^2 = 1 / (x'Rx).
    start = start / np.sqrt(float(start @ correlation @ start))
    solution = constrained_risk_budgeting(correlation, rows, start)
    weights = solution * inverse_vol
    return finish_solver_weights(weights / weights.sum(), constraints, "risk_parity", "active_set_converged")


def risk_parity(
    cov: pd.DataFrame, *, bounds: WeightBounds | None = None, clusters: ClusterMap | None = None
) -> pd.Series:
    """Equal-risk-contribution weights within `bounds`; raises `AllocationSolveError` on failure."""
    problem = build_problem(cov, bounds or WeightBounds(), clusters=clusters)
    return problem.series(solve_risk_parity(problem).weights)
