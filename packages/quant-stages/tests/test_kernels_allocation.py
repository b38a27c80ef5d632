"""Known-answer tests for the allocation engines, the bounds and the fallback chain."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels import allocation_convex
from quant_stages.kernels.allocation import ENGINES, AllocationResult, optimize
from quant_stages.kernels.allocation_convex import _min_variance_subproblem, max_sharpe, min_variance
from quant_stages.kernels.allocation_heuristics import equal_weight, inverse_volatility
from quant_stages.kernels.allocation_risk_parity import risk_parity
from quant_stages.kernels.allocation_types import AllocationFailedError, AllocationSolveError, build_problem
from quant_stages.kernels.constraints import WeightBounds, project_to_constraints, resolve_constraints


def frame(matrix: np.ndarray | list[list[float]], symbols: list[str]) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(matrix, dtype=float), index=symbols, columns=symbols)


def two_asset(vol_a: float, vol_b: float, rho: float = 0.0) -> pd.DataFrame:
    cov_ab = rho * vol_a * vol_b
    return frame([[vol_a**2, cov_ab], [cov_ab, vol_b**2]], ["A", "B"])


def factor_cov(n_assets: int, seed: int = 3) -> pd.DataFrame:
    """Covariance of a one-factor model plus sector factors: realistic, positive definite."""
    rng = np.random.default_rng(seed)
    beta = rng.uniform(0.5, 1.5, n_assets)
    sector = np.arange(n_assets) % 3
    loading = np.zeros((n_assets, 3))
    loading[np.arange(n_assets), sector] = rng.uniform(0.2, 0.8, n_assets)
    idio = rng.uniform(0.1, 0.4, n_assets)
    matrix = 0.04 * np.outer(beta, beta) + 0.01 * loading @ loading.T + np.diag(idio**2)
    symbols = [f"S{i:02d}" for i in range(n_assets)]
    return frame(matrix, symbols)


def sectors_of(cov: pd.DataFrame) -> dict[str, list[str]]:
    clusters: dict[str, list[str]] = {}
    for i, symbol in enumerate(cov.columns):
        clusters.setdefault(f"sector{i % 3}", []).append(symbol)
    return clusters


# ---------------------------------------------------------------- known answers, two assets


def test_two_uncorrelated_assets_known_weights() -> None:
    cov = two_asset(1.0, 2.0)
    assert inverse_volatility(cov).to_dict() == pytest.approx({"A": 2 / 3, "B": 1 / 3}, abs=1e-15)
    # min variance of uncorrelated assets: w ~ 1/variance = (1, 1/4) -> (4/5, 1/5)
    assert min_variance(cov).to_dict() == pytest.approx({"A": 0.8, "B": 0.2}, abs=1e-8)
    # uncorrelated: equal risk contributions <=> w ~ 1/sigma
    assert risk_parity(cov).to_dict() == pytest.approx({"A": 2 / 3, "B": 1 / 3}, abs=1e-12)
    assert equal_weight(cov).to_dict() == {"A": 0.5, "B": 0.5}


def test_two_asset_min_variance_matches_closed_form() -> None:
    # w_A = (s_B^2 - s_AB) / (s_A^2 + s_B^2 - 2 s_AB) = (0.09 - 0.024) / (0.13 - 0.048) = 0.066 / 0.082
    cov = two_asset(0.2, 0.3, 0.4)
    weights = min_variance(cov)
    assert weights["A"] == pytest.approx(0.066 / 0.082, abs=1e-8)
    assert weights["B"] == pytest.approx(0.016 / 0.082, abs=1e-8)


def test_two_asset_tangency_matches_closed_form() -> None:
    # w ~ inv(C) (mu - rf); inv(C) ~ [[0.09, -0.024], [-0.024, 0.04]] (det > 0 drops out)
    # excess (0.06, 0.10): (0.0054 - 0.0024, -0.00144 + 0.004) = (0.003, 0.00256)
    cov = two_asset(0.2, 0.3, 0.4)
    mu = pd.Series({"A": 0.08, "B": 0.12})
    weights = max_sharpe(cov, mu, risk_free_rate=0.02)
    assert weights["A"] == pytest.approx(0.003 / 0.00556, abs=1e-7)
    assert weights["B"] == pytest.approx(0.00256 / 0.00556, abs=1e-7)
    result = optimize("max_sharpe", cov=cov, mu=mu, risk_free_rate=0.02)
    assert result.engine == "max_sharpe" and result.solver_status == "optimal"
    assert result.fallbacks_tried == []


def test_tangency_with_one_negative_excess_return_holds_only_the_positive_asset() -> None:
    cov = two_asset(0.2, 0.3)
    weights = max_sharpe(cov, pd.Series({"A": -0.05, "B": 0.10}))
    assert weights.to_dict() == pytest.approx({"A": 0.0, "B": 1.0}, abs=1e-8)


def test_risk_parity_contributions_equal_to_1e_6() -> None:
    cov = factor_cov(25)
    result = optimize("risk_parity", cov=cov)
    assert result.engine == "risk_parity"
    np.testing.assert_allclose(result.risk_contributions.to_numpy(), 1 / 25, atol=1e-6, rtol=0)
    assert result.risk_contributions.sum() == pytest.approx(1.0, abs=1e-12)
    # and the weights are not the trivial inverse-volatility ones (correlations matter here)
    assert not np.allclose(result.weights, inverse_volatility(cov), atol=1e-4)


def test_risk_parity_with_constant_correlation_is_inverse_volatility() -> None:
    # Maillard, Roncalli & Teiletche (2010): with one common correlation, ERC is w ~ 1/sigma.
    vols = np.array([0.1, 0.2, 0.4])
    matrix = 0.3 * np.outer(vols, vols)
    np.fill_diagonal(matrix, vols**2)
    weights = risk_parity(frame(matrix, ["X", "Y", "Z"]))
    np.testing.assert_allclose(weights.to_numpy(), np.array([4, 2, 1]) / 7, atol=1e-12)


def test_risk_contributions_are_fractions_of_variance() -> None:
    cov = two_asset(1.0, 2.0)
    result = optimize("equal_weight", cov=cov)
    # w = (1/2, 1/2): w_i (C w)_i = (1/4, 1) of variance 5/4 -> (0.2, 0.8)
    assert result.risk_contributions.to_dict() == pytest.approx({"A": 0.2, "B": 0.8}, abs=1e-15)


def test_cluster_engine_known_answer() -> None:
    # Within x: A (vol 1), B (vol 2) uncorrelated -> inverse vol (2/3, 1/3), variance 4/9 + 4/9 = 8/9.
    # Within y: C, D (vol 1) -> (1/2, 1/2), variance 1/2. Clusters uncorrelated, so risk parity
    # across is inverse vol: 1/sqrt(8/9) : 1/sqrt(1/2) = 3 : 4 -> x = 3/7, y = 4/7.
    cov = frame(np.diag([1.0, 4.0, 1.0, 1.0]), ["A", "B", "C", "D"])
    result = optimize("cluster", cov=cov, clusters={"x": ["A", "B"], "y": ["C", "D"]})
    assert result.engine == "cluster"
    expected = {"A": 2 / 7, "B": 1 / 7, "C": 2 / 7, "D": 2 / 7}
    assert result.weights.to_dict() == pytest.approx(expected, abs=1e-12)
    other = optimize(
        "cluster",
        cov=cov,
        clusters={"x": ["A", "B"], "y": ["C", "D"]},
        within_engine="equal_weight",
        across_engine="equal_weight",
    )
    assert other.weights.to_dict() == pytest.approx({s: 0.25 for s in "ABCD"}, abs=1e-15)


# ---------------------------------------------------------------- bounds on every engine


def test_inverse_volatility_cap_redistributes_in_proportion() -> None:
    # raw 1/sigma weights (0.5, 0.25, 0.125, 0.125); A capped at 0.4, its excess 0.1 spread over
    # B, C, D in proportion 2:1:1 -> scale 0.6 / 0.5 = 1.2 -> (0.3, 0.15, 0.15)
    cov = frame(np.diag([1.0, 4.0, 16.0, 16.0]), ["A", "B", "C", "D"])
    weights = inverse_volatility(cov, bounds=WeightBounds(max_weight=0.4))
    assert weights.to_dict() == pytest.approx({"A": 0.4, "B": 0.3, "C": 0.15, "D": 0.15}, abs=1e-15)


def test_inverse_volatility_floor_and_cluster_cap() -> None:
    cov = frame(np.diag([1.0, 4.0, 16.0, 16.0]), ["A", "B", "C", "D"])
    # floor 0.2 lifts C and D; A and B share the remaining 0.6 as 2:1
    floored = inverse_volatility(cov, bounds=WeightBounds(min_weight=0.2))
    assert floored.to_dict() == pytest.approx({"A": 0.4, "B": 0.2, "C": 0.2, "D": 0.2}, abs=1e-15)
    # cluster x = {A, B} has raw 0.75, capped at 0.6; y gets 0.4; each split as its raw weights
    capped = inverse_volatility(
        cov, bounds=WeightBounds(cluster_caps={"x": 0.6}), clusters={"x": ["A", "B"], "y": ["C", "D"]}
    )
    assert capped.to_dict() == pytest.approx({"A": 0.4, "B": 0.2, "C": 0.2, "D": 0.2}, abs=1e-15)


def test_min_variance_cap_binds_exactly() -> None:
    weights = min_variance(two_asset(1.0, 2.0), bounds=WeightBounds(max_weight=0.7))
    assert weights.to_dict() == pytest.approx({"A": 0.7, "B": 0.3}, abs=1e-9)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


SCENARIOS = {
    "max_weight": (WeightBounds(max_weight=0.12), False),
    "min_weight": (WeightBounds(min_weight=0.03, max_weight=0.2), False),
    "cluster_caps": (WeightBounds(max_weight=0.15, cluster_caps={"sector0": 0.25, "sector1": 0.3}), True),
    "all_clusters_capped": (WeightBounds(min_weight=0.01, cluster_caps=0.4), True),
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_engine_respects_bounds(engine: str, scenario: str) -> None:
    cov = factor_cov(15)
    bounds, use_clusters = SCENARIOS[scenario]
    clusters = sectors_of(cov)
    mu = pd.Series(np.linspace(0.02, 0.12, 15), index=cov.columns)
    result = optimize(
        engine,
        cov=cov,
        mu=mu,
        clusters=clusters if (use_clusters or engine == "cluster") else None,
        bounds=bounds,
        fallback=(),
    )
    weights = result.weights
    assert result.engine == engine
    assert list(weights.index) == sorted(cov.columns)
    assert abs(weights.sum() - 1.0) <= 1e-9
    assert weights.min() >= bounds.min_weight - 1e-12
    assert weights.max() <= bounds.max_weight + 1e-12
    if use_clusters:
        caps = bounds.cluster_caps
        for cluster_id, members in clusters.items():
            cap = caps if isinstance(caps, float) else caps.get(cluster_id, 1.0)
            assert weights[members].sum() <= cap + 1e-12
    assert result.risk_contributions.sum() == pytest.approx(1.0, abs=1e-9)


def constrained_risk_budgeting_reference(cov: pd.DataFrame, bounds: WeightBounds, clusters: dict | None) -> pd.Series:
    """Richard & Roncalli (2019) constrained risk budgeting written directly in cvxpy (exp cones)."""
    symbols = list(cov.columns)
    sigma = np.sqrt(np.diag(cov.to_numpy()))
    correlation = cov.to_numpy() / np.outer(sigma, sigma)
    x = cp.Variable(len(symbols))
    y = cp.multiply(1.0 / sigma, x)
    total = cp.sum(y)
    constraints = [y <= bounds.max_weight * total, y >= bounds.min_weight * total]
    if bounds.cluster_caps is not None and clusters is not None:
        for cluster_id, members in clusters.items():
            caps = bounds.cluster_caps
            cap = caps if isinstance(caps, float) else caps.get(cluster_id, 1.0)
            constraints.append(cp.sum(y[[symbols.index(m) for m in members]]) <= cap * total)
    objective = 0.5 * cp.quad_form(x, cp.psd_wrap(correlation)) - cp.sum(cp.log(x)) / len(symbols)
    cp.Problem(cp.Minimize(objective), constraints).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12
    )
    weights = x.value / sigma
    return pd.Series(weights / weights.sum(), index=symbols)


@pytest.mark.parametrize(
    "bounds",
    [
        WeightBounds(max_weight=0.08),
        WeightBounds(min_weight=0.05, max_weight=0.09),
        WeightBounds(cluster_caps={"sector0": 0.25, "sector1": 0.3}),
    ],
)
def test_bounded_risk_parity_matches_the_constrained_risk_budgeting_problem(bounds: WeightBounds) -> None:
    cov = factor_cov(15, seed=8)
    clusters = sectors_of(cov)
    free = risk_parity(cov)
    result = optimize("risk_parity", cov=cov, bounds=bounds, clusters=clusters, fallback=())
    assert result.solver_status == "active_set_converged"
    assert not np.allclose(result.weights, free, atol=1e-4)  # the bounds bind
    reference = constrained_risk_budgeting_reference(cov, bounds, clusters)
    np.testing.assert_allclose(result.weights.to_numpy(), reference.to_numpy(), atol=1e-7, rtol=0)
    if bounds.cluster_caps is None:
        # assets strictly inside their bounds keep (nearly) equal risk contributions
        inside = (result.weights > bounds.min_weight + 1e-9) & (result.weights < bounds.max_weight - 1e-9)
        contributions = result.risk_contributions[inside]
        assert contributions.max() - contributions.min() < 0.2 * contributions.mean()


def test_risk_parity_with_bounds_leaving_one_portfolio() -> None:
    weights = risk_parity(factor_cov(10), bounds=WeightBounds(max_weight=0.1))
    np.testing.assert_allclose(weights.to_numpy(), 0.1, atol=1e-15)


def test_working_set_min_variance_matches_full_solve() -> None:
    cov = factor_cov(400, seed=11)
    clusters = sectors_of(cov)
    for bounds in (
        WeightBounds(max_weight=0.1),
        WeightBounds(min_weight=0.0005, max_weight=0.05),
        WeightBounds(max_weight=0.1, cluster_caps={"sector0": 0.2, "sector1": 0.3}),
    ):
        problem = build_problem(cov, bounds, clusters=clusters)
        fast = allocation_convex.solve_min_variance(problem).weights
        full, status, _, _ = _min_variance_subproblem(problem.cov, problem.constraints, np.arange(400))
        assert status == "optimal"
        fast_variance = fast @ problem.cov @ fast
        full_variance = full @ problem.cov @ full
        assert fast_variance <= full_variance * (1 + 1e-7)
        assert np.abs(fast - full).max() < 1e-4
        if bounds.cluster_caps:
            totals = pd.Series(fast, index=problem.symbols).groupby(lambda s: int(s[1:]) % 3).sum()
            assert totals[0] <= 0.2 + 1e-12 and totals[1] <= 0.3 + 1e-12
            assert totals[0] == pytest.approx(0.2, abs=1e-7)  # the cap binds


def test_working_set_max_sharpe_matches_full_solve() -> None:
    """The tangency portfolio through the working set equals the full homogenised problem's:
    same Sharpe ratio to 1e-9 (relative), same weights to solver tolerance, caps binding."""
    cov = factor_cov(400, seed=12)
    clusters = sectors_of(cov)
    mu = pd.Series(np.random.default_rng(12).normal(0.06, 0.05, 400), index=cov.index)
    for bounds in (WeightBounds(max_weight=0.1), WeightBounds(max_weight=0.1, cluster_caps={"sector0": 0.2, "sector1": 0.3})):
        problem = build_problem(cov, bounds, mu=mu, clusters=clusters)
        fast = allocation_convex.solve_max_sharpe(problem).weights
        scaled, status, _ = allocation_convex._max_sharpe_subproblem(problem.cov, problem.mu, problem.constraints, np.arange(400))
        full = scaled / scaled.sum()
        assert status == "optimal"

        def sharpe(w: np.ndarray) -> float:
            return float(problem.mu @ w / np.sqrt(w @ problem.cov @ w))

        assert sharpe(fast) == pytest.approx(sharpe(full), rel=1e-9)
        assert np.abs(fast - full).max() < 1e-6
        assert 5 < int((fast > 1e-9).sum()) < 150  # few assets held: what makes the working set pay
        assert fast.max() == pytest.approx(0.1, abs=1e-9)
        if bounds.cluster_caps:
            totals = pd.Series(fast, index=problem.symbols).groupby(lambda s: int(s[1:]) % 3).sum()
            assert totals[0] <= 0.2 + 1e-12 and totals[1] <= 0.3 + 1e-12


def test_project_to_constraints_rule() -> None:
    constraints = resolve_constraints(WeightBounds(max_weight=0.5), ["A", "B", "C"])
    # A = 0.8 clipped to 0.5, B and C share 0.5 as 1:1
    result = project_to_constraints(np.array([0.8, 0.1, 0.1]), constraints)
    np.testing.assert_allclose(result, [0.5, 0.25, 0.25], atol=1e-15)
    # zeros get weight only when the positive entries cannot hold the budget
    result = project_to_constraints(np.array([1.0, 0.0, 0.0]), constraints)
    np.testing.assert_allclose(result, [0.5, 0.25, 0.25], atol=1e-15)


# ---------------------------------------------------------------- infeasible bounds


@pytest.mark.parametrize(
    ("bounds", "clusters", "param", "fragment"),
    [
        (WeightBounds(max_weight=0.2), None, "max_weight", "4 x 0.2 = 0.8 < 1"),
        (WeightBounds(min_weight=0.3), None, "min_weight", "4 x 0.3 = 1.2 > 1"),
        (WeightBounds(cluster_caps=0.4), {"x": ["A", "B"], "y": ["C", "D"]}, "cluster_caps", "at most 0.8"),
        (
            WeightBounds(min_weight=0.2, cluster_caps={"x": 0.3}),
            {"x": ["A", "B"], "y": ["C", "D"]},
            "cluster_caps",
            "below its floor",
        ),
        (WeightBounds(cluster_caps=0.5), None, "cluster_caps", "no clusters were given"),
        (WeightBounds(cluster_caps={"z": 0.5}), {"x": ["A", "B"], "y": ["C", "D"]}, "cluster_caps", "do not exist"),
        (WeightBounds(), {"x": ["A", "B"], "y": ["C"]}, "clusters", "belong to no cluster"),
    ],
)
def test_infeasible_bounds_raise_before_solving(
    bounds: WeightBounds, clusters: dict | None, param: str, fragment: str
) -> None:
    cov = frame(np.eye(4), ["A", "B", "C", "D"])
    with pytest.raises(ParamValidationError) as info:
        optimize("min_variance", cov=cov, bounds=bounds, clusters=clusters)
    assert info.value.param == param
    assert fragment in str(info.value)


def test_bounds_checked_when_constructed() -> None:
    with pytest.raises(ParamValidationError, match=r"min_weight 0\.5 > max_weight 0\.4"):
        WeightBounds(min_weight=0.5, max_weight=0.4)
    with pytest.raises(ParamValidationError, match="long_only=True"):
        WeightBounds(min_weight=-0.1)
    with pytest.raises(ParamValidationError, match="must be in"):
        WeightBounds(cluster_caps={"x": 1.5})


def test_short_positions_allowed_when_not_long_only() -> None:
    # two highly correlated assets of different volatility: min variance shorts the riskier one
    cov = two_asset(0.1, 0.2, 0.9)
    bounds = WeightBounds(long_only=False, min_weight=-0.8, max_weight=2.0)
    weights = min_variance(cov, bounds=bounds)
    # closed form (0.04 - 0.018) / (0.05 - 0.036) = 0.022 / 0.014
    assert weights["A"] == pytest.approx(0.022 / 0.014, abs=1e-7)
    assert weights["B"] == pytest.approx(-0.008 / 0.014, abs=1e-7)
    long_only = min_variance(cov)
    assert long_only.to_dict() == pytest.approx({"A": 1.0, "B": 0.0}, abs=1e-8)


# ---------------------------------------------------------------- fallbacks and failures


def test_max_sharpe_without_positive_excess_return_falls_back() -> None:
    cov = two_asset(1.0, 2.0)
    result = optimize("max_sharpe", cov=cov, mu=pd.Series({"A": -0.01, "B": -0.02}))
    assert isinstance(result, AllocationResult)
    assert result.requested_engine == "max_sharpe"
    assert result.engine == "min_variance"
    assert result.used_fallback
    assert [engine for engine, _ in result.fallbacks_tried] == ["max_sharpe"]
    assert "risk-free rate" in result.fallbacks_tried[0][1]
    assert result.weights.to_dict() == pytest.approx({"A": 0.8, "B": 0.2}, abs=1e-8)


def test_solver_failure_runs_the_fallback_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_solve(problem: object, engine: str) -> str:
        raise AllocationSolveError(engine, "solver error: simulated", status="solver_error")

    monkeypatch.setattr(allocation_convex, "solve_with_clarabel", failing_solve)
    result = optimize("min_variance", cov=two_asset(1.0, 2.0))
    assert result.engine == "inverse_volatility"
    assert result.solver_status == "closed_form"
    assert result.fallbacks_tried == [("min_variance", "solver error: simulated (status solver_error)")]


def test_solver_iteration_limit_is_a_recorded_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocation_convex, "SOLVER_OPTIONS", {"max_threads": 1, "max_iter": 1})
    result = optimize("min_variance", cov=factor_cov(10), fallback=("equal_weight",))
    assert result.engine == "equal_weight"
    engine, reason = result.fallbacks_tried[0]
    assert engine == "min_variance" and "status" in reason


def test_every_engine_failing_raises_with_all_reasons() -> None:
    with pytest.raises(AllocationFailedError) as info:
        optimize("max_sharpe", cov=two_asset(1.0, 2.0), mu=pd.Series({"A": -1.0, "B": -1.0}), fallback=())
    assert info.value.attempts[0][0] == "max_sharpe"
    assert "max_sharpe" in str(info.value)


def test_parameter_errors_are_not_swallowed_by_fallback() -> None:
    cov = two_asset(1.0, 2.0)
    with pytest.raises(ParamValidationError, match="did you mean 'min_variance'"):
        optimize("min_varianse", cov=cov)
    with pytest.raises(ParamValidationError, match="needs expected returns"):
        optimize("max_sharpe", cov=cov)
    with pytest.raises(ParamValidationError, match="needs clusters"):
        optimize("cluster", cov=cov)
    with pytest.raises(ParamValidationError, match="unknown within_engine"):
        optimize("cluster", cov=cov, clusters={"x": ["A", "B"]}, within_engine="nope")
    with pytest.raises(ParamValidationError, match="unknown allocation engine"):
        optimize("hrp", cov=cov, fallback=("bogus",))


def test_bad_covariance_is_rejected() -> None:
    with pytest.raises(DataValidationError, match="variance must be > 0"):
        optimize("equal_weight", cov=frame([[0.0, 0.0], [0.0, 1.0]], ["A", "B"]))
    with pytest.raises(DataValidationError, match="not symmetric"):
        optimize("equal_weight", cov=frame([[1.0, 0.5], [0.1, 1.0]], ["A", "B"]))
    with pytest.raises(DataValidationError, match="non-finite"):
        optimize("equal_weight", cov=frame([[1.0, np.nan], [np.nan, 1.0]], ["A", "B"]))
    with pytest.raises(DataValidationError, match="different symbols"):
        optimize("equal_weight", cov=pd.DataFrame(np.eye(2), index=["A", "B"], columns=["A", "C"]))
    with pytest.raises(DataValidationError, match="no expected return"):
        optimize("max_sharpe", cov=two_asset(1.0, 2.0), mu=pd.Series({"A": 0.1}))


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_column_order_does_not_change_weights(engine: str) -> None:
    cov = factor_cov(12)
    mu = pd.Series(np.linspace(0.02, 0.12, 12), index=cov.columns)
    clusters = sectors_of(cov)
    bounds = WeightBounds(max_weight=0.2)
    permuted = list(np.random.default_rng(0).permutation(cov.columns))
    first = optimize(engine, cov=cov, mu=mu, clusters=clusters, bounds=bounds)
    second = optimize(engine, cov=cov.loc[permuted, permuted], mu=mu[permuted[::-1]], clusters=clusters, bounds=bounds)
    assert first.weights.equals(second.weights)
    assert first.engine == second.engine == engine  # not two runs of the same fallback


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_same_inputs_give_bitwise_identical_weights(engine: str) -> None:
    cov = factor_cov(200, seed=21)
    mu = pd.Series(np.linspace(0.02, 0.12, 200), index=cov.columns)
    bounds = WeightBounds(max_weight=0.05, cluster_caps={"sector2": 0.3})
    runs = [
        optimize(engine, cov=cov, mu=mu, clusters=sectors_of(cov), bounds=bounds, fallback=()) for _ in range(2)
    ]
    assert runs[0].weights.equals(runs[1].weights)
    assert runs[0].solver_status == runs[1].solver_status
    assert runs[0].engine == engine
