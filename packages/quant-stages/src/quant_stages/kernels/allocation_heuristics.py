"""Closed-form allocation engines: equal weight and inverse volatility.

Both compute raw weights in closed form and then apply the documented projection
`constraints.project_to_constraints` (proportional clip-and-redistribute) so that min/max weights
and cluster caps hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .allocation_types import AllocationProblem, EngineSolution, build_problem
from .constraints import ClusterMap, WeightBounds, project_to_constraints


def solve_equal_weight(problem: AllocationProblem) -> EngineSolution:
    """1/N in every asset (DeMiguel, Garlappi & Uppal 2009), projected onto the bounds."""
    raw = np.full(problem.n_assets, 1.0 / problem.n_assets)
    return EngineSolution(project_to_constraints(raw, problem.constraints), "closed_form")


def solve_inverse_volatility(problem: AllocationProblem) -> EngineSolution:
    """w_i proportional to 1/sigma_i, projected onto the bounds.

    It is the equal-risk-contribution portfolio when all pairwise correlations are equal
    (Maillard, Roncalli & Teiletche 2010, section 2.2), and a common risk-parity proxy otherwise.
    """
    inverse = 1.0 / problem.volatilities()
    return EngineSolution(project_to_constraints(inverse / inverse.sum(), problem.constraints), "closed_form")


def equal_weight(
    cov: pd.DataFrame, *, bounds: WeightBounds | None = None, clusters: ClusterMap | None = None
) -> pd.Series:
    """Equal weights for the symbols of `cov` (only its labels are used), within `bounds`."""
    problem = build_problem(cov, bounds or WeightBounds(), clusters=clusters)
    return problem.series(solve_equal_weight(problem).weights)


def inverse_volatility(
    cov: pd.DataFrame, *, bounds: WeightBounds | None = None, clusters: ClusterMap | None = None
) -> pd.Series:
    """Inverse-volatility weights from the diagonal of `cov`, within `bounds`."""
    problem = build_problem(cov, bounds or WeightBounds(), clusters=clusters)
    return problem.series(solve_inverse_volatility(problem).weights)
