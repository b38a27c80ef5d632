"""Every allocation engine is invariant to the order of the assets (issue 16, point 5).

Hypothesis draws a covariance (and expected returns), a permutation of the assets and new names
that sort in that permuted order, so that neither the column order nor the symbols' sort order
carries the original order. Each engine must give every asset the same weight, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quant_stages.kernels.allocation import optimize
from quant_stages.kernels.constraints import WeightBounds
from quant_stages.kernels.hrp import hierarchical_risk_parity

ENGINES = ("hrp", "min_variance", "risk_parity", "max_sharpe", "inverse_volatility", "equal_weight")


@st.composite
def problems(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.Series, np.ndarray, float]:
    n_assets = draw(st.integers(3, 14))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_days = 120
    factors = rng.standard_normal((n_days, 2)) * 0.01
    returns = factors @ rng.uniform(-0.5, 1.5, (2, n_assets)) + rng.standard_normal((n_days, n_assets)) * rng.uniform(0.005, 0.03, n_assets)
    names = [f"A{i:02d}" for i in range(n_assets)]
    cov = pd.DataFrame(np.cov(returns, rowvar=False) * 252, index=names, columns=names)
    mu = pd.Series(rng.normal(0.05, 0.1, n_assets), index=names)
    mu.iloc[0] = abs(mu.iloc[0]) + 0.01  # one positive excess return: the tangency portfolio exists
    permutation = np.asarray(draw(st.permutations(range(n_assets))))
    cap = draw(st.sampled_from([1.0, min(1.0, 1.5 / n_assets + 0.05)]))
    return cov, mu, permutation, cap


def renamed(cov: pd.DataFrame, mu: pd.Series, permutation: np.ndarray) -> tuple[pd.DataFrame, pd.Series, dict[str, str]]:
    """Asset i becomes `Z{permutation[i]}` (so names sort in the permuted order); columns are
    given in yet another order (reversed)."""
    name_of = {old: f"Z{permutation[i]:02d}" for i, old in enumerate(cov.columns)}
    moved = cov.rename(index=name_of, columns=name_of)
    order = sorted(moved.columns, reverse=True)
    return moved.loc[order, order], mu.rename(index=name_of).loc[order], name_of


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=40, deadline=None)
@given(problem=problems())
def test_every_engine_gives_each_asset_the_same_weight_in_any_order(engine, problem) -> None:
    cov, mu, permutation, cap = problem
    moved_cov, moved_mu, name_of = renamed(cov, mu, permutation)
    bounds = WeightBounds(max_weight=cap)
    first = optimize(engine, cov=cov, mu=mu, bounds=bounds, fallback=())
    second = optimize(engine, cov=moved_cov, mu=moved_mu, bounds=bounds, fallback=())
    assert first.engine == second.engine == engine
    back = second.weights.rename(index={new: old for old, new in name_of.items()}).sort_index()
    np.testing.assert_array_equal(back.to_numpy(), first.weights.to_numpy())


def test_hrp_of_a_twenty_asset_sample_does_not_move_when_the_columns_are_renamed() -> None:
    """The issue's case: the same 20 assets under names that sort differently used to move HRP
    weights by up to 0.035 (the dendrogram's leaf order followed the names)."""
    rng = np.random.default_rng(16)
    returns = rng.standard_normal((500, 20)) @ rng.uniform(0, 1, (20, 20)) * 0.01
    names = [f"S{i:02d}" for i in range(20)]
    cov = pd.DataFrame(np.cov(returns, rowvar=False), index=names, columns=names)
    permutation = rng.permutation(20)
    moved, _, name_of = renamed(cov, pd.Series(0.0, index=names), permutation)
    weights = hierarchical_risk_parity(cov)
    again = hierarchical_risk_parity(moved).rename(index={new: old for old, new in name_of.items()}).sort_index()
    np.testing.assert_array_equal(again.to_numpy(), weights.to_numpy())
