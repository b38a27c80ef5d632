"""Known-answer tests of the selection stages (features, inference, clustering, policy,
synthesis) on small hand-built markets written to files and run through the SDK, as a user runs
them. The kernels have their own tests; these prove the stages wire them to the data right."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from quant_core.errors import DataValidationError, ParamValidationError, StageFailedError
from quant_stages.frames import get_frame
from quant_stages.kernels.inference_defaults import DEFAULT_WEIGHTS
from quant_stages.stages.synthesis import parse_atom_id

SELECTION = "selection.full"
UP_TO_POLICY = ["selection.ingestion", "selection.features", "selection.inference", "selection.clustering", "selection.policy"]


def run_selection(sdk, files, stages=None, **stage_params):
    params = {"selection.ingestion": files.params, **stage_params}
    return sdk.run_pipeline(SELECTION, stages=stages, params=params).context


def frame_of(sdk, ref) -> pd.DataFrame:
    return get_frame(sdk.home.artifact_store(), ref)


# -- features ------------------------------------------------------------------------------


def test_features_are_the_assets_own_statistics_on_their_own_calendar(sdk, kit, planted_market):
    """Momentum = mean x periods, volatility = std (ddof 1) x sqrt(periods), liquidity =
    log10(1 + value traded); an equity that skips weekends is annualised by 252, crypto by 365,
    and its weekend gaps are skipped, never read as zero returns."""
    returns = planted_market.returns.copy()
    equity = "NYSE:EQTY"
    weekday = returns.index.day_of_week < 5
    returns[equity] = np.where(weekday, planted_market.returns[planted_market.planted["winner"]], np.nan)
    market = kit.Market(
        [*planted_market.candidates, kit.candidate(equity, asset_class="equity", value_traded=2.5e6)], returns
    )
    context = run_selection(sdk, kit.write(market), stages=["selection.ingestion", "selection.features"])
    features = frame_of(sdk, context.features)

    assert list(features.index) == sorted(returns.columns)
    winner = planted_market.planted["winner"]
    crypto = returns[winner]
    assert features.at[winner, "periods_per_year"] == 365
    assert features.at[winner, "history"] == 400
    assert features.at[winner, "momentum"] == pytest.approx(crypto.mean() * 365, rel=1e-12)
    assert features.at[winner, "volatility"] == pytest.approx(crypto.std(ddof=1) * math.sqrt(365), rel=1e-12)
    assert features.at[winner, "liquidity"] == pytest.approx(math.log10(1 + 1e9), rel=1e-15)

    traded_days = returns[equity].dropna()
    assert features.at[equity, "periods_per_year"] == 252
    assert features.at[equity, "history"] == weekday.sum() == len(traded_days)
    assert features.at[equity, "momentum"] == pytest.approx(traded_days.mean() * 252, rel=1e-12)
    assert features.at[equity, "volatility"] == pytest.approx(traded_days.std(ddof=1) * math.sqrt(252), rel=1e-12)
    assert features.at[equity, "liquidity"] == pytest.approx(math.log10(1 + 2.5e6), rel=1e-15)


def test_features_lookback_keeps_only_the_last_dates(sdk, kit, planted_market):
    files = kit.write(planted_market)
    context = run_selection(
        sdk, files, stages=["selection.ingestion", "selection.features"], **{"selection.features": {"lookback": 100}}
    )
    features = frame_of(sdk, context.features)
    winner = planted_market.planted["winner"]
    assert (features["history"] == 100).all()
    expected = planted_market.returns[winner].iloc[-100:].mean() * 365
    assert features.at[winner, "momentum"] == pytest.approx(expected, rel=1e-12)


# -- inference -----------------------------------------------------------------------------


def test_planted_high_momentum_low_volatility_persistent_asset_scores_highest(sdk, kit, planted_market):
    context = run_selection(
        sdk, kit.write(planted_market), stages=["selection.ingestion", "selection.features", "selection.inference"]
    )
    features = frame_of(sdk, context.features)
    scores = frame_of(sdk, context.scores)
    winner = planted_market.planted["winner"]

    # it was built to be the best of ten on these features, so each maps to p = 1 - 0.5/10
    best = {"momentum": max, "efficiency": max, "hurst": max, "liquidity": max,
            "volatility": min, "entropy": min, "cvar": min}  # fmt: skip
    for feature, pick in best.items():
        chosen = features[feature].idxmax() if pick is max else features[feature].idxmin()
        assert chosen == winner, feature
        assert scores.at[winner, f"p_{feature}"] == pytest.approx(0.95, abs=1e-15), feature

    expected = sum(weight * math.log(scores.at[winner, f"p_{f}"]) for f, weight in DEFAULT_WEIGHTS.items())
    assert scores.at[winner, "score"] == pytest.approx(expected, rel=1e-12)
    assert scores["score"].idxmax() == winner
    assert scores["score"].drop(winner).max() < scores.at[winner, "score"] - 1.0


# -- clustering ----------------------------------------------------------------------------


def test_two_blocks_of_correlated_assets_give_two_clusters(sdk, kit, two_block_market):
    block_a, block_b = two_block_market.planted["blocks"]
    # the columns are written shuffled: the clusters may not depend on their order
    files = kit.write(two_block_market, column_order=[block_b[2], block_a[1], block_b[0], block_a[2], block_b[1], block_a[0]])
    context = run_selection(sdk, files, stages=["selection.ingestion", "selection.clustering"])
    assert context.clusters == {"c01": block_a, "c02": block_b}


@pytest.mark.parametrize(
    ("clustering", "expected"),
    [
        # a cut below every merge: each asset alone, numbered in symbol order
        ({"distance_threshold": 0.01}, "singletons"),
        # the cap wins over the threshold
        ({"distance_threshold": 0.01, "max_clusters": 2}, "blocks"),
        ({"max_clusters": 1}, "one"),
        ({"method": "average", "lookbacks": [60, 250]}, "blocks"),
    ],
)
def test_clustering_params_reach_the_kernel(sdk, kit, two_block_market, clustering, expected):
    block_a, block_b = two_block_market.planted["blocks"]
    everyone = sorted([*block_a, *block_b])
    answers = {
        "singletons": {f"c{i:02d}": [symbol] for i, symbol in enumerate(everyone, start=1)},
        "blocks": {"c01": block_a, "c02": block_b},
        "one": {"c01": everyone},
    }
    context = run_selection(
        sdk, kit.write(two_block_market), stages=["selection.ingestion", "selection.clustering"],
        **{"selection.clustering": clustering},
    )
    assert context.clusters == answers[expected]


# -- policy --------------------------------------------------------------------------------


def test_illiquid_asset_is_vetoed_for_liquidity_and_the_planted_winner_is_selected(sdk, kit, planted_market):
    context = run_selection(sdk, kit.write(planted_market), **{"selection.policy": {"min_liquidity": 5.0}})
    assert context.vetoes == {planted_market.planted["illiquid"]: ["liquidity"]}
    assert planted_market.planted["winner"] in context.winners
    # every other asset is alone in its cluster (independent noise), so each one wins it
    assert context.winners == sorted(set(planted_market.returns.columns) - {planted_market.planted["illiquid"]})
    event = [e for e in context.audit_trail if e.stage_id == "selection.policy"][-1]
    assert event.code == "selected"
    assert event.data["long"] == context.winners and event.data["short"] == []


def test_policy_keeps_the_best_score_of_each_cluster_and_splits_long_short(sdk, kit, two_block_market):
    block_a, block_b = two_block_market.planted["blocks"]
    shorts = {block_b[0], block_b[1], block_b[2]}
    market = kit.Market(
        [kit.candidate(c["symbol"], direction="short" if c["symbol"] in shorts else "long") for c in two_block_market.candidates],
        two_block_market.returns,
    )
    context = run_selection(sdk, kit.write(market), **{"selection.policy": {"top_n_per_cluster": 1}})
    scores = frame_of(sdk, context.scores)["score"]
    best_a, best_b = scores[block_a].idxmax(), scores[block_b].idxmax()
    assert context.winners == sorted([best_a, best_b])
    event = [e for e in context.audit_trail if e.stage_id == "selection.policy"][-1]
    assert event.data == {"long": [best_a], "short": [best_b], "selected_by_cluster": {"c01": [best_a], "c02": [best_b]}}


def test_policy_threshold_rules_veto_with_every_reason(sdk, kit, planted_market):
    """Volatility ceiling below the noise assets' (about 0.55 a year) but above the winner's."""
    context = run_selection(
        sdk, kit.write(planted_market), stages=UP_TO_POLICY,
        **{"selection.policy": {"max_volatility": 0.3, "min_history": 401}},
    )
    assert context.winners == []
    noise = sorted(set(planted_market.returns.columns) - {planted_market.planted["winner"]})
    assert context.vetoes == {
        **{symbol: ["volatility", "history"] for symbol in noise},
        planted_market.planted["winner"]: ["history"],
    }


# -- synthesis -----------------------------------------------------------------------------


def test_atom_ids_survive_underscores_and_colons_and_composition_is_signed_by_direction(sdk, kit):
    symbols = {"BINANCE_US:BTC_PERP": "long", "CME_MINI:ES_H25": "short", "FX:EUR/USD": "long", "NYSE:BRK.B": "short"}
    rng = np.random.default_rng(3)
    dates = kit.dates(400)
    returns = pd.DataFrame({s: rng.normal(0, 0.01, len(dates)) for s in symbols}, index=dates)
    returns.iloc[10:15, 1] = np.nan  # a gap stays a gap in the atom's stream
    market = kit.Market(
        [kit.candidate(s, direction=d, asset_class="fx" if s.startswith("FX") else "crypto") for s, d in symbols.items()],
        returns,
    )
    files = kit.write(market)
    context = sdk.run_pipeline(SELECTION, params={
        "selection.ingestion": files.params,
        "selection.policy": {"top_n_per_cluster": 4, "min_coverage": 0.5},
    }).context
    assert context.winners == sorted(symbols)
    atoms = {atom["id"]: atom for atom in context.strategy_atoms}
    assert [atom["asset"] for atom in context.strategy_atoms] == sorted(symbols)
    for identifier, atom in atoms.items():
        symbol, logic, direction = parse_atom_id(identifier)
        assert (symbol, logic, direction) == (atom["asset"], "buy_and_hold", symbols[symbol])
        assert atom["direction"] == symbols[symbol]
    assert context.composition_map == {
        identifier: {atom["asset"]: 1 if atom["direction"] == "long" else -1} for identifier, atom in atoms.items()
    }
    streams = frame_of(sdk, context.artifacts["atom_returns"])
    assert sorted(streams.columns) == sorted(atoms)
    for identifier, atom in atoms.items():
        sign = context.composition_map[identifier][atom["asset"]]
        expected = sign * returns[atom["asset"]].to_numpy()
        np.testing.assert_array_equal(streams[identifier].to_numpy(), expected)
    assert streams[[i for i in atoms if i.startswith("CME_MINI")][0]].isna().sum() == 5


def test_synthesis_without_winners_is_a_clear_error(sdk, kit, planted_market):
    with pytest.raises(StageFailedError) as failure:
        run_selection(sdk, kit.write(planted_market), **{"selection.policy": {"min_history": 10_000}})
    assert failure.value.stage_id == "selection.synthesis"
    assert isinstance(failure.value.__cause__, DataValidationError)
    assert failure.value.__cause__.rule == "no-winners"


def test_features_params_refuse_what_the_kernel_cannot_do_before_anything_runs(sdk):
    """The schema says what the kernel accepts: permutation entropy up to order 7 (7! patterns)."""
    with pytest.raises(ParamValidationError) as failure:
        sdk.run_stage("selection.features", params={"entropy_order": 8})
    assert failure.value.param == "entropy_order"
    assert sdk.registry.get("selection.features").input_schema["properties"]["entropy_order"]["maximum"] == 7
