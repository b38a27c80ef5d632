"""allocation.optimize through the SDK on a small hand-built market written to files: the
weights table, the bounds of every engine, short atoms, and the record of fallbacks.

The allocation kernels have their own known-answer tests; these prove the stage feeds them the
right atoms, clusters and bounds and writes their answer back faithfully."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from quant_core.errors import ParamValidationError, StageFailedError
from quant_stages.frames import get_frame

UP_TO_OPTIMIZE = [
    "selection.ingestion", "selection.features", "selection.inference", "selection.clustering",
    "selection.policy", "selection.synthesis", "allocation.optimize",
]
ENGINES = ["equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity", "hrp", "cluster"]
#: Three blocks of correlated assets (block factor + own noise), each block its own volatility.
BLOCKS = {
    "c01": (("X:A1", "X:A2", "X:A3"), 0.01),
    "c02": (("X:B1", "X:B2", "X:B3"), 0.02),
    "c03": (("X:C1", "X:C2"), 0.04),
}
SHORT = "X:B2"
TOLERANCE = 1e-9
#: The weights contract (ARCHITECTURE.md section 3, plus the atom and its risk contribution).
WEIGHT_COLUMNS = ["symbol", "atom", "weight", "net_weight", "direction", "cluster", "risk_contribution"]


def block_returns(n_days: int, dates: pd.DatetimeIndex, drift: float = 0.0005) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    columns = {}
    for symbols, vol in BLOCKS.values():
        factor = rng.normal(drift, vol, n_days)
        for i, symbol in enumerate(symbols):
            columns[symbol] = factor + rng.normal(0.0, vol * 0.25 * (1 + i), n_days)
    return pd.DataFrame(columns, index=dates)


@pytest.fixture
def block_market(kit):
    """Eight assets in three blocks; X:B2 is a short candidate."""
    returns = block_returns(300, kit.dates(300))
    candidates = [kit.candidate(s, direction="short" if s == SHORT else "long") for s in sorted(returns.columns)]
    return kit.Market(candidates, returns)


def run_optimize(sdk, files, **allocation):
    return sdk.run_pipeline("portfolio.full", stages=UP_TO_OPTIMIZE, params={
        "selection.ingestion": files.params,
        "selection.policy": {"top_n_per_cluster": 3},
        "allocation.optimize": allocation,
    }).context


def weights_of(sdk, context) -> pd.DataFrame:
    return get_frame(sdk.home.artifact_store(), context.weights)


def test_the_blocks_are_the_clusters_and_every_asset_is_an_atom(sdk, kit, block_market):
    context = run_optimize(sdk, kit.write(block_market), engine="equal_weight")
    assert context.clusters == {cid: list(symbols) for cid, (symbols, _) in BLOCKS.items()}
    assert context.winners == sorted(block_market.returns.columns)
    assert context.artifacts["weights"] == context.weights


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_writes_the_weights_table_within_its_bounds(sdk, kit, block_market, engine):
    """max_weight 0.2, min_weight 0.05, cluster cap 0.35: the three-asset blocks would hold 0.375
    at equal weight, so the cap binds even there; each engine must meet every bound, sum to 1,
    and the risk contributions must be w_i (C w)_i / w'Cw for the sample covariance C of the
    atoms' returns."""
    bounds = {"max_weight": 0.2, "min_weight": 0.05, "cluster_cap": 0.35}
    context = run_optimize(sdk, kit.write(block_market), engine=engine, covariance="sample", **bounds)
    table = weights_of(sdk, context)

    assert list(table.columns) == WEIGHT_COLUMNS
    atoms = {atom["id"]: atom for atom in context.strategy_atoms}
    assert list(table["atom"]) == sorted(atoms)
    assert list(table["symbol"]) == [atoms[a]["asset"] for a in table["atom"]]
    assert list(table["direction"]) == [atoms[a]["direction"] for a in table["atom"]]
    cluster_of = {s: cid for cid, members in context.clusters.items() for s in members}
    assert list(table["cluster"]) == [cluster_of[s] for s in table["symbol"]]

    weights = table["weight"].to_numpy()
    assert abs(weights.sum() - 1.0) <= TOLERANCE
    assert weights.max() <= bounds["max_weight"] + TOLERANCE
    assert weights.min() >= bounds["min_weight"] - TOLERANCE
    by_cluster = table.groupby("cluster")["weight"].sum()
    assert by_cluster.max() <= bounds["cluster_cap"] + TOLERANCE
    # a bound binds for every engine here, so the test would see one being ignored
    assert by_cluster.max() >= bounds["cluster_cap"] - 1e-6

    sign = np.where(table["direction"] == "short", -1.0, 1.0)
    np.testing.assert_array_equal(table["net_weight"].to_numpy(), sign * weights)
    short_row = table.loc[table["symbol"] == SHORT].iloc[0]
    assert short_row["direction"] == "short" and short_row["net_weight"] == -short_row["weight"] < 0

    streams = get_frame(sdk.home.artifact_store(), context.artifacts["atom_returns"])[list(table["atom"])]
    cov = np.cov(streams.to_numpy(), rowvar=False, ddof=1)
    marginal = weights * (cov @ weights)
    np.testing.assert_allclose(table["risk_contribution"].to_numpy(), marginal / marginal.sum(), rtol=1e-9, atol=1e-12)

    top = sorted(table.itertuples(), key=lambda r: (-r.weight, r.atom))
    assert context.allocation == {
        "engine": engine, "requested_engine": engine, "solver_status": context.allocation["solver_status"],
        "fallbacks_tried": [], "positions": 8,
        "top_weights": [
            {"symbol": r.symbol, "weight": r.weight, "direction": r.direction, "cluster": r.cluster} for r in top
        ],
    }


def test_inverse_volatility_without_bounds_is_one_over_sigma_of_each_atom(sdk, kit, block_market):
    """Known answer from the file itself: w_i = (1/sigma_i) / sum_j (1/sigma_j); the short atom's
    stream is the negated asset, with the same volatility."""
    context = run_optimize(sdk, kit.write(block_market), engine="inverse_volatility", covariance="sample")
    table = weights_of(sdk, context).set_index("symbol")
    inverse = 1.0 / block_market.returns.std(ddof=1)
    expected = (inverse / inverse.sum()).sort_index()
    np.testing.assert_allclose(table["weight"].sort_index().to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert table.at[SHORT, "net_weight"] == pytest.approx(-expected[SHORT], rel=1e-12)
    assert context.allocation["solver_status"] == "closed_form"


def test_equal_weight_splits_evenly_and_shorts_are_negative(sdk, kit, block_market):
    table = weights_of(sdk, run_optimize(sdk, kit.write(block_market), engine="equal_weight"))
    assert (table["weight"] == 0.125).all()
    assert dict(zip(table["symbol"], table["net_weight"])) == {
        s: (-0.125 if s == SHORT else 0.125) for s in block_market.returns.columns
    }


@pytest.fixture
def losing_market(kit):
    """Every asset loses exactly 0.1% a day on average: no portfolio has a positive Sharpe ratio."""
    returns = block_returns(300, kit.dates(300))
    returns = returns - returns.mean() - 0.001
    return kit.Market([kit.candidate(s) for s in sorted(returns.columns)], returns)


def test_max_sharpe_with_only_losing_assets_falls_back_and_says_so(sdk, kit, losing_market):
    context = run_optimize(sdk, kit.write(losing_market), engine="max_sharpe", max_weight=0.3)
    record = context.allocation
    assert record["requested_engine"] == "max_sharpe"
    assert record["engine"] == "min_variance"
    assert record["solver_status"] == "optimal"
    assert [f["engine"] for f in record["fallbacks_tried"]] == ["max_sharpe"]
    assert "no asset has expected return above the risk-free rate" in record["fallbacks_tried"][0]["reason"]
    weights = weights_of(sdk, context)["weight"]
    assert abs(weights.sum() - 1.0) <= TOLERANCE and weights.max() <= 0.3 + TOLERANCE


def test_the_fallback_chain_comes_from_the_params(sdk, kit, losing_market):
    context = run_optimize(sdk, kit.write(losing_market), engine="max_sharpe", fallback=["equal_weight"])
    assert context.allocation["engine"] == "equal_weight"
    assert context.allocation["solver_status"] == "closed_form"
    assert (weights_of(sdk, context)["weight"] == 0.125).all()


def test_a_cap_too_small_for_the_atoms_is_a_parameter_error(sdk, kit, block_market):
    with pytest.raises(StageFailedError) as failure:
        run_optimize(sdk, kit.write(block_market), engine="hrp", max_weight=0.1)
    assert failure.value.stage_id == "allocation.optimize"
    cause = failure.value.__cause__
    assert isinstance(cause, ParamValidationError)
    assert "max_weight 0.1 is infeasible for 8 assets" in str(cause)


def test_weights_do_not_depend_on_the_column_order_of_the_file(sdk, kit, block_market):
    ordered = run_optimize(sdk, kit.write(block_market, name="ordered"), engine="risk_parity", max_weight=0.3)
    shuffled_order = list(reversed(block_market.returns.columns))
    shuffled = run_optimize(
        sdk, kit.write(block_market, name="shuffled", column_order=shuffled_order), engine="risk_parity", max_weight=0.3
    )
    pd.testing.assert_frame_equal(weights_of(sdk, ordered), weights_of(sdk, shuffled))
