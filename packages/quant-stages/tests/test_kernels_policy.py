"""Known-answer tests of the selection policy: vetoes, top-N per cluster, long/short split."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels.policy import VETO_REASONS, PolicyThresholds, apply_policy

NO_RULES = PolicyThresholds()


def universe() -> tuple[pd.DataFrame, pd.Series, dict[str, list[str]], pd.Series]:
    features = pd.DataFrame(
        {
            "momentum": [0.50, 0.40, 0.30, 0.20, -0.60, 0.10, 0.25],
            "volatility": [0.60, 0.50, 0.40, 0.30, 0.80, 0.20, 0.35],
            "entropy": [0.90, 0.95, 0.97, 0.99, 0.92, 0.80, 0.93],
            "efficiency": [0.10, 0.08, 0.05, 0.02, 0.12, 0.30, 0.06],
            "kurtosis": [3.0, 1.0, 0.5, 12.0, 2.0, 0.1, 1.5],
            "liquidity": [8.0, 7.5, 7.0, 4.0, 6.5, 9.0, 7.2],
            "history": [900.0, 800.0, 700.0, 650.0, 365.0, 100.0, 500.0],
        },
        index=pd.Index(["BTC", "ETH", "SOL", "ILLQ", "SHRT", "NEW", "ADA"], name="symbol"),
    )
    scores = pd.Series(
        {"BTC": -1.0, "ETH": -1.5, "SOL": -2.0, "ILLQ": -0.5, "SHRT": -1.2, "NEW": -0.8, "ADA": -1.5}
    )
    clusters = {"c01": ["BTC", "ETH", "ILLQ", "ADA"], "c02": ["SHRT", "SOL"], "c03": ["NEW"]}
    directions = pd.Series(
        {
            "BTC": "long",
            "ETH": "long",
            "SOL": "long",
            "ILLQ": "long",
            "SHRT": "short",
            "NEW": "long",
            "ADA": "long",
        }
    )
    return features, scores, clusters, directions


def run(thresholds: PolicyThresholds = NO_RULES, top_n: int = 1, cost_bps: float = 10.0, **overrides: object):
    features, scores, clusters, directions = universe()
    arguments = {"features": features, "scores": scores, "clusters": clusters, "directions": directions}
    arguments.update(overrides)
    return apply_policy(**arguments, thresholds=thresholds, top_n_per_cluster=top_n, cost_bps=cost_bps)


def test_without_rules_top_one_per_cluster() -> None:
    result = run()
    assert result.vetoes == {}
    assert result.selected_by_cluster == {"c01": ["ILLQ"], "c02": ["SHRT"], "c03": ["NEW"]}
    assert result.winners == ["ILLQ", "NEW", "SHRT"]
    assert result.long == ["ILLQ", "NEW"] and result.short == ["SHRT"]


def test_illiquid_asset_is_vetoed_for_liquidity() -> None:
    result = run(PolicyThresholds(min_liquidity=6.0))
    assert result.vetoes == {"ILLQ": ["liquidity"]}
    assert result.selected_by_cluster["c01"] == ["BTC"]


def test_threshold_itself_passes() -> None:
    assert run(PolicyThresholds(min_liquidity=4.0)).vetoes == {}
    assert run(PolicyThresholds(max_kurtosis=12.0)).vetoes == {}


def test_several_reasons_are_listed_in_the_fixed_order() -> None:
    thresholds = PolicyThresholds(
        min_liquidity=6.0,
        max_entropy=0.98,
        min_efficiency=0.04,
        max_kurtosis=10.0,
        max_volatility=0.7,
        min_history=200,
    )
    result = run(thresholds)
    assert result.vetoes == {
        "ILLQ": ["liquidity", "entropy", "efficiency", "kurtosis"],
        "NEW": ["history"],
        "SHRT": ["volatility"],
    }
    assert all(reasons == [r for r in VETO_REASONS if r in reasons] for reasons in result.vetoes.values())
    assert result.selected_by_cluster == {"c01": ["BTC"], "c02": ["SOL"], "c03": []}
    assert result.winners == ["BTC", "SOL"] and result.short == []


def test_friction_uses_directional_momentum_net_of_annual_cost() -> None:
    # 10 bps one way, 12 round trips: 2 * 0.001 * 12 = 0.024 a year.
    # Margins: BTC 0.476, ETH 0.376, SOL 0.276, ILLQ 0.176, SHRT (short, -0.60) 0.576, NEW 0.076, ADA 0.226.
    result = run(PolicyThresholds(min_friction_margin=0.2))
    assert result.vetoes == {"ILLQ": ["friction"], "NEW": ["friction"]}
    assert "SHRT" not in result.vetoes
    # Dearer trading moves ADA (0.25 - 2 * 0.005 * 12 = 0.13) below the same hurdle.
    assert "ADA" in run(PolicyThresholds(min_friction_margin=0.2), cost_bps=50.0).vetoes


def test_missing_or_nan_score_is_vetoed() -> None:
    _, scores, _, _ = universe()
    partial = scores.drop("BTC")
    partial["ETH"] = math.nan
    result = run(scores=partial)
    assert result.vetoes == {"BTC": ["missing_score"], "ETH": ["missing_score"]}


def test_nan_feature_fails_an_active_rule_only() -> None:
    features, *_ = universe()
    features.loc["BTC", "kurtosis"] = math.nan
    assert run(features=features).vetoes == {}
    assert run(PolicyThresholds(max_kurtosis=100.0), features=features).vetoes == {"BTC": ["kurtosis"]}


def test_top_n_per_cluster_ties_broken_by_symbol() -> None:
    # ETH and ADA tie at -1.5 in c01: ADA sorts first.
    result = run(PolicyThresholds(min_liquidity=6.0), top_n=2)
    assert result.selected_by_cluster == {"c01": ["BTC", "ADA"], "c02": ["SHRT", "SOL"], "c03": ["NEW"]}
    assert result.winners == ["ADA", "BTC", "NEW", "SHRT", "SOL"]
    everyone = run(top_n=10)
    assert everyone.selected_by_cluster["c01"] == ["ILLQ", "BTC", "ADA", "ETH"]


def test_result_does_not_depend_on_input_order() -> None:
    features, scores, clusters, directions = universe()
    thresholds = PolicyThresholds(min_liquidity=6.0, min_friction_margin=0.1)
    expected = apply_policy(
        features, scores, clusters, directions, thresholds=thresholds, top_n_per_cluster=2, cost_bps=10.0
    )
    rng = np.random.default_rng(0)
    for _ in range(5):
        shuffled_clusters = {
            name: list(rng.permutation(members)) for name, members in reversed(list(clusters.items()))
        }
        got = apply_policy(
            features.sample(frac=1.0, random_state=int(rng.integers(1000))),
            scores.sample(frac=1.0, random_state=int(rng.integers(1000))),
            shuffled_clusters,
            directions.sample(frac=1.0, random_state=int(rng.integers(1000))),
            thresholds=thresholds,
            top_n_per_cluster=2,
            cost_bps=10.0,
        )
        assert got == expected


def test_numeric_directions_are_accepted() -> None:
    _, _, _, directions = universe()
    numeric = directions.map({"long": 1, "short": -1})
    assert run(directions=numeric) == run()


# ----------------------------------------------------------------------------- bad input


def test_symbol_without_cluster_is_rejected() -> None:
    _, _, clusters, _ = universe()
    clusters = {**clusters, "c03": []}
    with pytest.raises(DataValidationError, match="no cluster") as error:
        run(clusters=clusters)
    assert error.value.row == "NEW"


def test_symbol_in_two_clusters_is_rejected() -> None:
    _, _, clusters, _ = universe()
    with pytest.raises(DataValidationError, match="clusters"):
        run(clusters={**clusters, "c03": ["NEW", "BTC"]})


def test_unknown_direction_is_rejected() -> None:
    _, _, _, directions = universe()
    directions["SOL"] = "sideways"
    with pytest.raises(DataValidationError, match="sideways") as error:
        run(directions=directions)
    assert error.value.row == "SOL"


def test_missing_feature_for_an_active_rule_is_rejected() -> None:
    features, *_ = universe()
    with pytest.raises(DataValidationError) as error:
        run(PolicyThresholds(min_liquidity=1.0), features=features.drop(columns="liquidity"))
    assert error.value.column == "liquidity"


@pytest.mark.parametrize("value", [math.nan, math.inf, "1", True])
def test_bad_threshold_is_rejected(value: object) -> None:
    with pytest.raises(ParamValidationError) as error:
        PolicyThresholds(max_entropy=value)  # type: ignore[arg-type]
    assert error.value.param == "max_entropy"


@pytest.mark.parametrize(
    ("param", "value"), [("top_n", 0), ("top_n", 1.5), ("cost_bps", -1.0), ("cost_bps", math.nan)]
)
def test_bad_scalars_are_rejected(param: str, value: object) -> None:
    with pytest.raises(ParamValidationError):
        run(**{param: value})
