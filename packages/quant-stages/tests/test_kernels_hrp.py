"""Hierarchical Risk Parity: a hand-worked example, the paper's recursion, bounds and options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import ParamValidationError
from quant_stages.kernels.allocation import optimize
from quant_stages.kernels.constraints import WeightBounds
from quant_stages.kernels.hrp import hierarchical_risk_parity, quasi_diagonal_order, recursive_bisection


def four_asset_cov() -> pd.DataFrame:
    """vol A=1, B=2, C=1, D=1; rho(A,B)=0.8, rho(C,D)=0.6, all cross-pair correlations 0."""
    matrix = np.array(
        [
            [1.0, 1.6, 0.0, 0.0],
            [1.6, 4.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.6],
            [0.0, 0.0, 0.6, 1.0],
        ]
    )
    return pd.DataFrame(matrix, index=list("ABCD"), columns=list("ABCD"))


def test_hand_worked_four_asset_example() -> None:
    # 1. Distances sqrt(0.5 (1 - rho)): d(A,B) = sqrt(0.1), d(C,D) = sqrt(0.2), others sqrt(0.5).
    #    Any linkage merges {A,B} first, then {C,D}, then the two: leaf order A, B, C, D.
    # 2. Bisection [A,B] | [C,D].
    #    [A,B]: inverse-variance weights (1, 1/4) -> (0.8, 0.2);
    #           V = 0.64*1 + 0.04*4 + 2*0.8*0.2*1.6 = 0.64 + 0.16 + 0.512 = 1.312
    #    [C,D]: (0.5, 0.5); V = 0.25 + 0.25 + 2*0.25*0.6 = 0.8
    #    alpha = 1 - 1.312 / 2.112 = 0.8 / 2.112 = 25/66 to [A,B], 41/66 to [C,D].
    # 3. [A] | [B]: V = 1 and 4 -> alpha = 1 - 1/5 = 0.8: A = 0.8 * 25/66 = 10/33, B = 5/66.
    #    [C] | [D]: V = 1 and 1 -> 1/2 each: C = D = 41/132.
    expected = {"A": 10 / 33, "B": 5 / 66, "C": 41 / 132, "D": 41 / 132}
    for method in ("single", "average", "complete", "ward"):
        weights = hierarchical_risk_parity(four_asset_cov(), linkage_method=method)
        assert weights.to_dict() == pytest.approx(expected, abs=1e-15)
    assert list(quasi_diagonal_order(four_asset_cov().to_numpy())) == [0, 1, 2, 3]


def test_hand_worked_example_with_a_cap() -> None:
    # raw (0.3030, 0.0758, 0.3106, 0.3106) with max_weight 0.3: A, C and D all reach the cap once
    # the excess is redistributed in proportion, so B takes the remaining 0.1.
    weights = hierarchical_risk_parity(four_asset_cov(), bounds=WeightBounds(max_weight=0.3))
    assert weights.to_dict() == pytest.approx({"A": 0.3, "B": 0.1, "C": 0.3, "D": 0.3}, abs=1e-15)


def paper_recursive_bisection(cov: np.ndarray, order: list[int]) -> np.ndarray:
    """Lopez de Prado (2016) getRecBipart, transcribed with lists: the reference for the vectorised one."""
    weights = np.ones(cov.shape[0])
    clusters = [order]
    while clusters:
        clusters = [c[j:k] for c in clusters for j, k in ((0, len(c) // 2), (len(c) // 2, len(c))) if len(c) > 1]
        for left, right in zip(clusters[::2], clusters[1::2], strict=True):
            variances = []
            for items in (left, right):
                sub = cov[np.ix_(items, items)]
                ivp = 1.0 / np.diag(sub)
                ivp /= ivp.sum()
                variances.append(ivp @ sub @ ivp)
            alpha = 1.0 - variances[0] / (variances[0] + variances[1])
            weights[left] *= alpha
            weights[right] *= 1.0 - alpha
    return weights


@pytest.mark.parametrize("n_assets", [2, 3, 5, 8, 37, 64])
def test_vectorised_bisection_matches_the_paper_recursion(n_assets: int) -> None:
    rng = np.random.default_rng(n_assets)
    returns = rng.normal(0, 0.01, (300, n_assets)) + rng.normal(0, 0.01, (300, 1)) * rng.uniform(0, 1.5, n_assets)
    cov = np.cov(returns, rowvar=False)
    order = list(quasi_diagonal_order(cov))
    ours = np.empty(n_assets)
    ours[order] = recursive_bisection(cov[np.ix_(order, order)])
    reference = paper_recursive_bisection(cov, order)
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=0)
    assert ours.sum() == pytest.approx(1.0, abs=1e-14)


def test_single_asset_gets_everything() -> None:
    weights = hierarchical_risk_parity(pd.DataFrame([[0.04]], index=["A"], columns=["A"]))
    assert weights.to_dict() == {"A": 1.0}


def test_optimal_ordering_and_linkage_options() -> None:
    rng = np.random.default_rng(5)
    returns = rng.normal(0, 0.01, (200, 12)) + rng.normal(0, 0.01, (200, 1))
    symbols = [f"S{i:02d}" for i in range(12)]
    cov = pd.DataFrame(np.cov(returns, rowvar=False), index=symbols, columns=symbols)
    plain = optimize("hrp", cov=cov)
    ordered = optimize("hrp", cov=cov, optimal_ordering=True)
    single = optimize("hrp", cov=cov, linkage="single")
    for result in (plain, ordered, single):
        assert result.engine == "hrp"
        assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert (result.weights > 0).all()
    with pytest.raises(ParamValidationError, match="unknown linkage method"):
        optimize("hrp", cov=cov, linkage="median-ish", fallback=())


def test_hrp_does_not_depend_on_column_order() -> None:
    cov = four_asset_cov()
    shuffled = cov.loc[list("DBCA"), list("CADB")]
    assert hierarchical_risk_parity(cov).equals(hierarchical_risk_parity(shuffled))


# -- bounds inside the bisection, against skfolio (issue 16, point 4) ----------------------


def sector_returns(n_assets: int = 40, n_days: int = 500, seed: int = 4) -> pd.DataFrame:
    """A market factor, five sectors and fat-tailed own noise: a clustered universe where a 6-8%
    cap binds on the low-volatility assets."""
    rng = np.random.default_rng(seed)
    sector = rng.integers(0, 5, n_assets)
    values = (
        rng.standard_normal((n_days, 1)) * 0.01 * rng.uniform(0.5, 1.5, n_assets)
        + rng.standard_normal((n_days, 5))[:, sector] * 0.008
        + rng.standard_t(5, (n_days, n_assets)) * rng.uniform(0.004, 0.03, n_assets)
    )
    dates = pd.date_range("2022-01-03", periods=n_days, freq="B", tz="UTC")
    return pd.DataFrame(values, index=dates, columns=[f"S{i:03d}" for i in range(n_assets)])


def skfolio_hrp(returns: pd.DataFrame, max_weight: float) -> pd.Series:
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.moments import EmpiricalCovariance
    from skfolio.optimization import HierarchicalRiskParity
    from skfolio.prior import EmpiricalPrior
    from skfolio.seriation import HierarchicalSeriation

    model = HierarchicalRiskParity(
        prior_estimator=EmpiricalPrior(covariance_estimator=EmpiricalCovariance(nearest=False)),
        seriation_estimator=HierarchicalSeriation(
            hierarchical_clustering_estimator=HierarchicalClustering(linkage_method=LinkageMethod.WARD),
            optimal_ordering=False,
        ),
        max_weights=max_weight,
    )
    return pd.Series(model.fit(returns).weights_, index=returns.columns)


@pytest.mark.parametrize("cap", [0.06, 0.07, 0.08])
def test_capped_hrp_matches_skfolio_and_the_projection_does_not(cap: float) -> None:
    from quant_stages.kernels.allocation_types import build_problem
    from quant_stages.kernels.covariance import covariance

    returns = sector_returns()
    cov = covariance(returns, "sample", 252.0)
    ours = optimize("hrp", cov=cov, bounds=WeightBounds(max_weight=cap), fallback=())
    assert ours.engine == "hrp"
    # skfolio reads the assets in the order it is given: give it ours (a data-defined order)
    canonical = list(build_problem(cov, WeightBounds()).symbols)
    theirs = skfolio_hrp(returns[canonical], cap).sort_index()
    np.testing.assert_allclose(ours.weights.to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-12)
    assert ours.weights.max() <= cap + 1e-15 and ours.weights.max() == pytest.approx(cap, abs=1e-15)
    projected = optimize("hrp", cov=cov, bounds=WeightBounds(max_weight=cap), hrp_bounds="projection", fallback=())
    assert np.abs(projected.weights - theirs).max() > 1e-3  # the old rule is another allocation
    assert projected.weights.max() <= cap + 1e-12


def test_a_capped_asset_passes_its_excess_to_its_own_cluster() -> None:
    """Clusters {A, B} (rho 0.8) and {C, D} (rho 0.5); A has the lowest volatility and a cap of
    0.4 binds on it. Inside the bisection its excess stays in its cluster (B takes it); the
    projection spreads it over B, C and D in proportion, moving weight across clusters."""
    cov = pd.DataFrame(
        [[0.25, 0.4, 0.0, 0.0], [0.4, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 0.5, 1.0]],
        index=list("ABCD"), columns=list("ABCD"),
    )
    # {A,B}: inverse-variance (0.8, 0.2), variance 0.16 + 0.04 + 0.128 = 0.328; {C,D}: (0.5, 0.5), 0.75
    left = 1.0 - 0.328 / (0.328 + 0.75)
    # [A|B]: alpha 0.8 would give A 0.8 x left = 0.557 > 0.4: A is clamped to 0.4, B takes the rest
    bisection = hierarchical_risk_parity(cov, bounds=WeightBounds(max_weight=0.4))
    expected = {"A": 0.4, "B": left - 0.4, "C": (1 - left) / 2, "D": (1 - left) / 2}
    assert bisection.to_dict() == pytest.approx(expected, abs=1e-15)
    projection = hierarchical_risk_parity(cov, bounds=WeightBounds(max_weight=0.4), hrp_bounds="projection")
    rest = 0.6 / (1.0 - 0.8 * left)  # B, C and D scaled up together to fill what A gives up
    assert projection.to_dict() == pytest.approx(
        {"A": 0.4, "B": 0.2 * left * rest, "C": (1 - left) / 2 * rest, "D": (1 - left) / 2 * rest}, abs=1e-12
    )


def test_unknown_hrp_bounds_rule_is_a_parameter_error() -> None:
    with pytest.raises(ParamValidationError) as info:
        hierarchical_risk_parity(four_asset_cov(), bounds=WeightBounds(max_weight=0.3), hrp_bounds="clip")
    assert info.value.param == "hrp_bounds"
