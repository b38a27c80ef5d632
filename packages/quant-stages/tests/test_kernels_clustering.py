"""Known-answer tests of the correlation distance and the hierarchical clustering kernel."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.kernels.clustering import UNINFORMATIVE_DISTANCE, cluster_assets, correlation_distance


def dated(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    length = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2021-01-01", periods=length, tz="UTC", name="date"))


def two_blocks(n_rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """Block X (X1..X4) follows one factor, block Y (Y1..Y3) another; equities skip weekends."""
    rng = np.random.default_rng(seed)
    factor_x, factor_y = rng.standard_normal((2, n_rows)) * 0.02
    columns = {f"X{i}": factor_x + rng.standard_normal(n_rows) * 0.004 for i in range(1, 5)}
    columns.update({f"Y{i}": factor_y + rng.standard_normal(n_rows) * 0.004 for i in range(1, 4)})
    returns = dated(columns)
    weekend = returns.index.day_of_week >= 5
    returns.loc[weekend, ["X2", "Y3"]] = np.nan
    return returns


def reference_distance(returns: pd.DataFrame, lookbacks: tuple[int, ...], min_periods: int) -> pd.DataFrame:
    ordered = returns[sorted(returns.columns)]
    used = [lookback for lookback in lookbacks if lookback <= len(ordered)] or [len(ordered)]
    total = sum(
        np.sqrt(0.5 * (1.0 - ordered.iloc[-lookback:].corr(min_periods=min_periods).fillna(0.0)))
        for lookback in used
    )
    distance = (total / len(used)).to_numpy(copy=True)
    np.fill_diagonal(distance, 0.0)
    return pd.DataFrame(distance, index=ordered.columns, columns=ordered.columns)


def test_distance_matches_pandas_pairwise_complete_correlation() -> None:
    rng = np.random.default_rng(3)
    returns = two_blocks()
    returns.iloc[:150, 0] = np.nan  # a late listing
    returns.iloc[rng.random(len(returns)) < 0.2, 5] = np.nan  # a gappy asset
    symbols, distance = correlation_distance(returns, lookbacks=(60, 120, 250, 1000), min_periods=20)
    expected = reference_distance(returns, (60, 120, 250, 1000), 20)
    assert symbols == list(expected.columns)
    np.testing.assert_allclose(distance, expected.to_numpy(), atol=1e-12, rtol=0)
    assert (distance == distance.T).all()
    assert (np.diag(distance) == 0.0).all()


def test_mantegna_distance_of_known_correlations() -> None:
    base = np.sin(np.arange(100.0))
    returns = dated({"A": base, "SAME": 2 * base + 0.1, "OPPOSITE": -base})
    symbols, distance = correlation_distance(returns, lookbacks=(100,), min_periods=10)
    lookup = dict(zip(symbols, range(3), strict=True))
    assert distance[lookup["A"], lookup["SAME"]] == pytest.approx(0.0, abs=1e-7)
    assert distance[lookup["A"], lookup["OPPOSITE"]] == pytest.approx(1.0, abs=1e-12)


def test_pair_with_too_few_common_observations_is_uninformative() -> None:
    rng = np.random.default_rng(0)
    early = np.r_[rng.standard_normal(50), np.full(50, np.nan)]
    late = np.r_[np.full(45, np.nan), rng.standard_normal(55)]
    symbols, distance = correlation_distance(
        dated({"EARLY": early, "LATE": late}), lookbacks=(100,), min_periods=20
    )
    assert symbols == ["EARLY", "LATE"]
    assert distance[0, 1] == UNINFORMATIVE_DISTANCE


def test_constant_series_is_uninformative() -> None:
    rng = np.random.default_rng(0)
    _, distance = correlation_distance(
        dated({"FLAT": np.full(80, 0.001), "NOISE": rng.standard_normal(80)}), lookbacks=(80,)
    )
    assert distance[0, 1] == UNINFORMATIVE_DISTANCE


def test_lookbacks_longer_than_the_data_are_skipped() -> None:
    returns = two_blocks(n_rows=100)
    _, only_sixty = correlation_distance(returns, lookbacks=(60,), min_periods=20)
    _, with_long = correlation_distance(returns, lookbacks=(60, 500), min_periods=20)
    np.testing.assert_array_equal(only_sixty, with_long)
    _, none_supported = correlation_distance(returns, lookbacks=(200, 500), min_periods=20)
    np.testing.assert_allclose(none_supported, reference_distance(returns, (100,), 20).to_numpy(), atol=1e-12)


def test_two_correlated_blocks_give_two_clusters() -> None:
    clusters = cluster_assets(two_blocks())
    assert clusters == {"c01": ["X1", "X2", "X3", "X4"], "c02": ["Y1", "Y2", "Y3"]}


@pytest.mark.parametrize("method", ["ward", "average", "complete", "single"])
def test_every_linkage_method_finds_the_blocks(method: str) -> None:
    assert len(cluster_assets(two_blocks(), method=method)) == 2


def test_permuting_columns_gives_the_same_clusters() -> None:
    returns = two_blocks()
    permuted = returns[["Y2", "X3", "Y1", "X1", "Y3", "X4", "X2"]]
    assert cluster_assets(permuted) == cluster_assets(returns)
    np.testing.assert_array_equal(correlation_distance(permuted)[1], correlation_distance(returns)[1])


def test_single_asset_and_empty_universe() -> None:
    assert cluster_assets(dated({"ONLY": np.linspace(-0.01, 0.01, 50)})) == {"c01": ["ONLY"]}
    empty = pd.DataFrame(
        index=pd.date_range("2021-01-01", periods=5, tz="UTC"), columns=pd.Index([], dtype=str), dtype=float
    )
    assert cluster_assets(empty) == {}


def test_threshold_and_max_clusters() -> None:
    rng = np.random.default_rng(8)
    independent = dated({f"I{i}": rng.standard_normal(250) for i in range(6)})
    # Independent assets sit near distance 0.707: a low cut separates them all, a high one merges all.
    assert len(cluster_assets(independent, method="average", distance_threshold=0.5)) == 6
    assert cluster_assets(independent, method="average", distance_threshold=2.0) == {
        "c01": [f"I{i}" for i in range(6)]
    }
    capped = cluster_assets(independent, method="average", distance_threshold=0.5, max_clusters=3)
    assert len(capped) == 3
    assert sorted(symbol for members in capped.values() for symbol in members) == [f"I{i}" for i in range(6)]
    assert cluster_assets(two_blocks(), distance_threshold=0.01, max_clusters=2) == cluster_assets(
        two_blocks()
    )


def test_cluster_names_follow_the_smallest_symbol() -> None:
    rng = np.random.default_rng(4)
    factor_a, factor_b = rng.standard_normal((2, 200))
    returns = dated(
        {
            "B1": factor_a + 0.1 * rng.standard_normal(200),
            "Z9": factor_a + 0.1 * rng.standard_normal(200),
            "A5": factor_b + 0.1 * rng.standard_normal(200),
            "C3": factor_b + 0.1 * rng.standard_normal(200),
        }
    )
    assert cluster_assets(returns) == {"c01": ["A5", "C3"], "c02": ["B1", "Z9"]}


def test_many_clusters_get_wider_names() -> None:
    rng = np.random.default_rng(2)
    independent = dated({f"S{i:03d}": rng.standard_normal(300) for i in range(120)})
    clusters = cluster_assets(independent, method="single", distance_threshold=0.3, max_clusters=200)
    assert len(clusters) == 120
    assert list(clusters)[:2] == ["c001", "c002"] and clusters["c120"] == ["S119"]


# ----------------------------------------------------------------------------- bad input


def test_bad_linkage_method_is_rejected() -> None:
    with pytest.raises(ParamValidationError, match="'median'") as error:
        cluster_assets(two_blocks(), method="median")
    assert error.value.param == "method"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("distance_threshold", 0.0),
        ("distance_threshold", math.nan),
        ("max_clusters", 0),
        ("lookbacks", ()),
        ("lookbacks", (60, 1)),
        ("min_periods", 1),
    ],
)
def test_bad_parameters_are_rejected(param: str, value: object) -> None:
    with pytest.raises(ParamValidationError) as error:
        cluster_assets(two_blocks(), **{param: value})
    assert error.value.param == param


def test_infinite_return_is_rejected() -> None:
    returns = two_blocks()
    returns.iloc[3, 2] = np.inf
    with pytest.raises(DataValidationError) as error:
        cluster_assets(returns)
    assert error.value.column == "X3"


# ----------------------------------------------------------------------------- pattern-grouped sums


def gappy_universe(n_assets: int, n_patterns: int, seed: int) -> pd.DataFrame:
    """One factor; columns share `n_patterns` random gap patterns, plus the awkward cases."""
    rng = np.random.default_rng(seed)
    n_rows = 260
    values = rng.standard_normal((n_rows, 1)) * 0.01 + rng.standard_normal((n_rows, n_assets)) * 0.01
    patterns = rng.random((n_rows, n_patterns)) < 0.3
    values[patterns[:, rng.integers(0, n_patterns, n_assets)]] = np.nan
    values[:, 0] = np.nan  # never traded
    values[: n_rows - 15, 1] = np.nan  # fewer than min_periods rows in every window
    values[:, 2] = np.where(np.isnan(values[:, 2]), np.nan, 0.003)  # constant
    return dated({f"S{j:03d}": values[:, j] for j in range(n_assets)})


@pytest.mark.parametrize(
    ("n_patterns", "expected_path"), [(3, "_PatternGroupedMoments"), (60, "_PairwiseMoments")]
)
def test_grouped_and_dense_sums_match_pandas(n_patterns: int, expected_path: str) -> None:
    from quant_stages.kernels import clustering

    returns = gappy_universe(n_assets=60, n_patterns=n_patterns, seed=n_patterns)
    window = returns.to_numpy()[-250:]
    assert type(clustering._window_moments(clustering._centre(window))).__name__ == expected_path
    symbols, distance = correlation_distance(returns, lookbacks=(60, 120, 250), min_periods=20)
    expected = reference_distance(returns, (60, 120, 250), 20)
    assert symbols == list(expected.columns)
    np.testing.assert_allclose(distance, expected.to_numpy(), atol=1e-12, rtol=0)
    # never traded, too short and constant: uninformative against everyone else
    others = distance[:3, 3:]
    np.testing.assert_allclose(others, UNINFORMATIVE_DISTANCE, atol=1e-15, rtol=0)
    assert (distance == distance.T).all()
