"""Equal-risk-contribution (risk parity) engine.

Exact ERC via the convex log-barrier problem of Maillard, Roncalli & Teiletche (2010) and Spinu
(2013): the unique minimiser x* > 0 of

    F(x) = 1/2 x'Rx - sum_i b_i log x_i,        b_i = 1/N,

satisfies x_i (R x)_i = b_i, so x* / sum(x*) has equal risk contributions. It is solved on the
correlation matrix R (then rescaled by 1/sigma), which Spinu recommends for conditioning, by damped
Newton steps: F is self-concordant, so the step x - Delta / (1 + lambda) with Newton decrement
lambda stays positive and converges globally, then quadratically once lambda < 0.25.

Bounds: when the exact ERC portfolio already satisfies them it is returned as is. Otherwise the
constrained risk-budgeting problem of Richard & Roncalli (2019) is solved with cvxpy/CLARABEL: the
same objective with the bounds written homogeneously (lower * sum(y) <= y_i <= upper * sum(y),
cluster sums <= cap * sum(y)), which keeps the solution independent of the barrier's scale. The
capped assets then carry less than 1/N of the risk and the others' contributions are close to, but
no longer exactly, equal: that is the documented price of the constraints.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.linalg

from .allocation_convex import capped_cluster_rows, finish_solver_weights, solve_with_clarabel
from .allocation_types import AllocationProblem, AllocationSolveError, EngineSolution, build_problem
from .constraints import ClusterMap, WeightBounds, constraint_violation

NEWTON_MAX_ITERATIONS = 100
#: Stop when every x_i (R x)_i is within this relative distance of its budget b_i.
NEWTON_TOLERANCE = 1e-12
#: Below this Newton decrement full steps are taken (quadratic convergence region).
FULL_STEP_DECREMENT = 0.25


def equal_risk_contribution_newton(correlation: np.ndarray) -> np.ndarray:
    """Minimiser x* of 1/2 x'Rx - (1/N) sum log x (Spinu 2013), by damped Newton with Cholesky.

    Raises `AllocationSolveError` if R is not positive definite along the path or Newton does not
    reach `NEWTON_TOLERANCE` within `NEWTON_MAX_ITERATIONS`.
    """
    n_assets = correlation.shape[0]
    budget = np.full(n_assets, 1.0 / n_assets)
    x = np.full(n_assets, 1.0 / np.sqrt(correlation.sum()))
    for _ in range(NEWTON_MAX_ITERATIONS):
        marginal = correlation @ x
        if np.max(np.abs(x * marginal - budget)) <= NEWTON_TOLERANCE * budget[0]:
            return x
        gradient = marginal - budget / x
        hessian = correlation + np.diag(budget / (x * x))
        try:
            factor = scipy.linalg.cho_factor(hessian, lower=True, check_finite=False)
        except np.linalg.LinAlgError as error:
            raise AllocationSolveError(
                "risk_parity",
                "covariance is not positive definite (Newton Hessian has no Cholesky factor)",
                status="numerical_error",
            ) from error
        step = scipy.linalg.cho_solve(factor, gradient, check_finite=False)
        decrement = float(np.sqrt(max(gradient @ step, 0.0)))
        x = x - (step if decrement < FULL_STEP_DECREMENT else step / (1.0 + decrement))
        if not np.all(x > 0):
            raise AllocationSolveError(
                "risk_parity", "Newton iterate left the positive orthant", status="numerical_error"
            )
    raise AllocationSolveError(
        "risk_parity", f"Newton did not converge in {NEWTON_MAX_ITERATIONS} iterations", status="max_iterations"
    )


def _constrained_risk_budgeting(
    problem: AllocationProblem, correlation: np.ndarray, inverse_vol: np.ndarray
) -> EngineSolution:
    constraints = problem.constraints
    n_assets = problem.n_assets
    scaled = cp.Variable(n_assets)
    # Weights are proportional to y = x / sigma; the constraints are written on y.
    y = cp.multiply(inverse_vol, scaled)
    total = cp.sum(y)
    objective = 0.5 * cp.quad_form(scaled, cp.psd_wrap(correlation)) - cp.sum(cp.log(scaled)) / n_assets
    constraint_list = [y >= constraints.lower * total, y <= constraints.upper * total]
    capped = capped_cluster_rows(constraints)
    if capped is not None:
        membership, caps = capped
        constraint_list.append(membership @ y <= caps * total)
    status = solve_with_clarabel(cp.Problem(cp.Minimize(objective), constraint_list), "risk_parity")
    weights = inverse_vol * np.asarray(scaled.value)
    return finish_solver_weights(weights / weights.sum(), constraints, "risk_parity", status)


def solve_risk_parity(problem: AllocationProblem) -> EngineSolution:
    """Equal-risk-contribution weights (see module docstring for the method and the bounds rule)."""
    volatility = problem.volatilities()
    inverse_vol = 1.0 / volatility
    correlation = problem.cov * np.outer(inverse_vol, inverse_vol)
    x = equal_risk_contribution_newton(correlation)
    weights = x * inverse_vol
    weights = weights / weights.sum()
    if constraint_violation(weights, problem.constraints) <= 1e-12:
        return EngineSolution(weights, "newton_converged")
    return _constrained_risk_budgeting(problem, correlation, inverse_vol)


def risk_parity(
    cov: pd.DataFrame, *, bounds: WeightBounds | None = None, clusters: ClusterMap | None = None
) -> pd.Series:
    """Equal-risk-contribution weights within `bounds`; raises `AllocationSolveError` on failure."""
    problem = build_problem(cov, bounds or WeightBounds(), clusters=clusters)
    return problem.series(solve_risk_parity(problem).weights)
