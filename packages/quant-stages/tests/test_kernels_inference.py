"""Known-answer tests of the probability mapping and the MPS score."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import cholesky, toeplitz

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels.features import FEATURE_COLUMNS, compute_features
from quant_stages.kernels.inference import feature_probability, mps_score
from quant_stages.kernels.inference_defaults import DEFAULT_METHODS, DEFAULT_WEIGHTS

PHI_MINUS_ONE = 0.15865525393145707  # standard normal CDF at -1


def test_rank_uses_average_ranks_for_ties() -> None:
    values = np.array([3.0, 1.0, 2.0, 2.0])
    assert feature_probability(values, "rank").tolist() == [0.875, 0.125, 0.5, 0.5]
    assert feature_probability(values, "inverse_rank").tolist() == [0.125, 0.875, 0.5, 0.5]


def test_nan_is_left_out_of_the_ranks() -> None:
    result = feature_probability(np.array([1.0, np.nan, 3.0]), "rank")
    assert result[0] == 0.25 and math.isnan(result[1]) and result[2] == 0.75


def test_normal_cdf_standardises_cross_sectionally() -> None:
    values = np.array([0.0, 1.0, 2.0, np.nan])  # mean 1, sample std 1
    up = feature_probability(values, "normal_cdf")
    down = feature_probability(values, "inverse_normal_cdf")
    assert up[:3] == pytest.approx([PHI_MINUS_ONE, 0.5, 1 - PHI_MINUS_ONE], abs=1e-12)
    assert down[:3] == pytest.approx([1 - PHI_MINUS_ONE, 0.5, PHI_MINUS_ONE], abs=1e-12)
    assert math.isnan(up[3]) and math.isnan(down[3])


def test_feature_without_dispersion_maps_to_one_half() -> None:
    for method in ("rank", "inverse_rank", "normal_cdf", "inverse_normal_cdf"):
        assert feature_probability(np.full(4, 0.1), method).tolist() == [0.5] * 4
        assert feature_probability(np.array([7.0]), method).tolist() == [0.5]


def test_probabilities_are_clipped_to_eps() -> None:
    assert feature_probability(np.array([1.0, 2.0]), "rank", eps=0.3).tolist() == [0.3, 0.7]
    # z of the outlier is about 31.6: Phi(-31.6) underflows far below eps.
    tail = feature_probability(np.r_[np.zeros(1000), 1.0], "inverse_normal_cdf")
    assert tail[-1] == 1e-6


def test_score_is_the_weighted_sum_of_log_probabilities() -> None:
    features = pd.DataFrame(
        {
            "momentum": [3.0, 1.0, 2.0, 4.0],
            "volatility": [0.1, 0.2, 0.3, 0.4],
            "unused": [9.0, 8.0, 7.0, 6.0],
        },
        index=pd.Index(["D", "B", "C", "A"], name="symbol"),
    )
    result = mps_score(
        features, {"momentum": "rank", "volatility": "inverse_rank"}, {"momentum": 1.0, "volatility": 0.5}
    )
    assert list(result.index) == ["A", "B", "C", "D"]
    assert list(result.columns) == ["p_momentum", "p_volatility", "score"]
    # A: momentum rank 4 -> 0.875, volatility rank 4 (worst) -> 0.125
    assert result.loc["A", "score"] == pytest.approx(math.log(0.875) + 0.5 * math.log(0.125), abs=1e-12)
    # D: momentum rank 3 -> 0.625, volatility rank 1 (best) -> 0.875
    assert result.loc["D", "score"] == pytest.approx(math.log(0.625) + 0.5 * math.log(0.875), abs=1e-12)
    assert result["score"].idxmax() == "D"


def test_nan_in_a_weighted_feature_gives_nan_score() -> None:
    features = pd.DataFrame(
        {"momentum": [1.0, 2.0, 3.0], "hurst": [0.5, np.nan, 0.7], "entropy": [np.nan, 0.9, 0.8]},
        index=["A", "B", "C"],
    )
    result = mps_score(
        features,
        {"momentum": "rank", "hurst": "rank", "entropy": "inverse_rank"},
        {"momentum": 1.0, "hurst": 1.0, "entropy": 0.0},
    )
    assert math.isnan(result.loc["B", "p_hurst"])
    assert math.isnan(result.loc["B", "score"])
    # A's entropy is NaN but unweighted: A keeps a score.
    assert result.loc["A", "score"] == pytest.approx(math.log(1 / 6) + math.log(0.25), abs=1e-12)
    assert math.isnan(result.loc["A", "p_entropy"])


def test_result_does_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(
        rng.standard_normal((30, 3)),
        columns=["momentum", "volatility", "hurst"],
        index=[f"S{i:02d}" for i in range(30)],
    )
    methods = {"momentum": "rank", "volatility": "inverse_normal_cdf", "hurst": "normal_cdf"}
    weights = {"momentum": 1.0, "volatility": 0.5, "hurst": 0.25}
    shuffled = features.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(
        mps_score(features, methods, weights), mps_score(shuffled, methods, weights), check_exact=True
    )


def test_defaults_name_real_features() -> None:
    assert set(DEFAULT_WEIGHTS) <= set(DEFAULT_METHODS) <= set(FEATURE_COLUMNS)
    assert DEFAULT_METHODS["hurst"] == "rank"
    hurst = feature_probability(np.array([0.3, 0.5, 0.8]), DEFAULT_METHODS["hurst"])
    assert hurst[2] > hurst[1] > hurst[0]


def test_planted_persistent_trending_asset_ranks_first_with_defaults() -> None:
    rng = np.random.default_rng(42)
    n_rows, n_noise = 500, 40
    lags = np.arange(n_rows, dtype=np.float64)
    autocovariance = 0.5 * ((lags + 1) ** 1.6 - 2 * lags**1.6 + np.abs(lags - 1) ** 1.6)  # fGn, H = 0.8
    persistent = cholesky(toeplitz(autocovariance), lower=True) @ rng.standard_normal(n_rows)
    columns = {
        f"NOISE{i:02d}": rng.normal(rng.normal(0.0, 0.001), rng.uniform(0.02, 0.05), n_rows)
        for i in range(n_noise)
    }
    columns["PLANTED"] = 0.004 + 0.01 * persistent
    returns = pd.DataFrame(columns, index=pd.date_range("2022-01-01", periods=n_rows, tz="UTC"))
    symbols = list(returns.columns)
    features = compute_features(returns, pd.Series(365.0, index=symbols), pd.Series(1e7, index=symbols))
    scores = mps_score(features, DEFAULT_METHODS, DEFAULT_WEIGHTS)["score"]
    assert scores.idxmax() == "PLANTED"
    assert scores["PLANTED"] > scores.drop("PLANTED").max() + 0.5


@given(
    values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)), min_size=1, max_size=40),
    method=st.sampled_from(["rank", "inverse_rank", "normal_cdf", "inverse_normal_cdf"]),
)
def test_probabilities_are_bounded_and_monotone(values: list[float], method: str) -> None:
    array = np.asarray(values)
    probability = feature_probability(array, method, eps=1e-6)
    present = ~np.isnan(array)
    assert np.array_equal(np.isnan(probability), ~present)
    assert ((probability[present] >= 1e-6) & (probability[present] <= 1 - 1e-6)).all()
    order = np.argsort(array[present], kind="stable")
    ordered = probability[present][order]
    steps = np.diff(ordered)
    if method.startswith("inverse_"):
        assert (steps <= 1e-12).all()
    else:
        assert (steps >= -1e-12).all()


# ----------------------------------------------------------------------------- bad input


def test_unknown_feature_is_named() -> None:
    features = pd.DataFrame({"momentum": [1.0, 2.0]}, index=["A", "B"])
    with pytest.raises(ParamValidationError, match="'mommentum'") as error:
        mps_score(features, {"mommentum": "rank"}, {"mommentum": 1.0})
    assert error.value.param == "methods"


def test_unknown_method_is_named() -> None:
    features = pd.DataFrame({"momentum": [1.0, 2.0]}, index=["A", "B"])
    with pytest.raises(ParamValidationError, match="'ranked'"):
        mps_score(features, {"momentum": "ranked"}, {"momentum": 1.0})
    with pytest.raises(ParamValidationError):
        feature_probability(np.array([1.0]), "sigmoid")


@pytest.mark.parametrize(
    "weights",
    [{"volatility": 1.0}, {"momentum": -1.0}, {"momentum": math.nan}, {"momentum": 0.0}, {}],
)
def test_bad_weights_are_rejected(weights: dict[str, float]) -> None:
    features = pd.DataFrame({"momentum": [1.0, 2.0], "volatility": [0.1, 0.2]}, index=["A", "B"])
    with pytest.raises(ParamValidationError) as error:
        mps_score(features, {"momentum": "rank"}, weights)
    assert error.value.param == "weights"


def test_infinite_feature_value_is_rejected() -> None:
    features = pd.DataFrame({"momentum": [1.0, math.inf]}, index=["A", "B"])
    with pytest.raises(DataValidationError) as error:
        mps_score(features, {"momentum": "rank"}, {"momentum": 1.0})
    assert error.value.column == "momentum" and error.value.row == "B"
