"""Probability mapping of features and the MPS (multiplicative probability score) of candidates.

Each feature is mapped cross-sectionally to a probability in (0, 1) that the candidate is "good"
on that feature, by one of four methods:

- ``rank``: higher is better, p = (rank - 0.5) / n with average ranks for ties (the mid-rank
  plotting position, Hazen 1914), n = number of candidates with a value for that feature;
- ``inverse_rank``: lower is better, p = 1 - (rank - 0.5) / n;
- ``normal_cdf``: higher is better, p = Phi((x - mean) / std) with the cross-sectional mean and
  sample std (ddof=1);
- ``inverse_normal_cdf``: lower is better, p = Phi(-(x - mean) / std).

A feature that does not discriminate (a single value, or no dispersion) maps to 0.5. Probabilities
are clipped to [eps, 1 - eps] so their logarithms stay finite. The score is
``sum_f w_f log p_f`` (the log of a weighted product of probabilities, as in a naive-Bayes
combination of independent pieces of evidence): 0 is perfect, more negative is worse. A
candidate with a NaN in any feature of positive weight has score NaN, which the policy vetoes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd
from scipy.special import ndtr
from scipy.stats import rankdata

from quant_core.errors import DataValidationError, ParamValidationError

from quant_stages.kernels.checks import is_finite_number


PROBABILITY_METHODS: Final[tuple[str, ...]] = ("rank", "inverse_rank", "normal_cdf", "inverse_normal_cdf")

DEFAULT_EPS: Final = 1e-6


def feature_probability(values: np.ndarray, method: str, *, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Map one feature's cross-section to probabilities by `method` (see module docstring).

    NaN values map to NaN and are left out of the ranks, mean and std of the others.
    """
    if method not in PROBABILITY_METHODS:
        raise ParamValidationError(
            f"unknown probability method {method!r}; expected one of {list(PROBABILITY_METHODS)}",
            param="method",
            value=method,
            rule=f"one of {list(PROBABILITY_METHODS)}",
        )
    values = np.asarray(values, dtype=np.float64)
    probability = np.full(values.shape, np.nan)
    present = ~np.isnan(values)
    observed = values[present]
    n = observed.size
    if n == 0:
        return probability
    if method in ("rank", "inverse_rank"):
        position = (rankdata(observed, method="average") - 0.5) / n
        mapped = position if method == "rank" else 1.0 - position
    else:
        # Equal values: their std may come out at 1e-18 instead of 0, so compare the values.
        if observed.max() > observed.min():
            z = (observed - observed.mean()) / np.std(observed, ddof=1)
            mapped = ndtr(z) if method == "normal_cdf" else ndtr(-z)
        else:
            mapped = np.full(n, 0.5)
    probability[present] = np.clip(mapped, eps, 1.0 - eps)
    return probability


def _validate(
    features: pd.DataFrame, methods: Mapping[str, str], weights: Mapping[str, float], eps: float
) -> None:
    if not isinstance(features, pd.DataFrame):
        raise DataValidationError(
            f"expected a pandas DataFrame of features, got {type(features).__name__}",
            source="features",
            rule="type",
        )
    if not features.index.is_unique:
        duplicated = features.index[features.index.duplicated()]
        raise DataValidationError(
            "duplicated symbols", source="features", row=duplicated[0], rule="unique_index"
        )
    missing = sorted(set(methods) - set(features.columns))
    if missing:
        raise ParamValidationError(
            f"unknown feature(s) {missing} in methods; the features are {sorted(map(str, features.columns))}",
            param="methods",
            value=missing,
            rule="feature names must be columns of features",
        )
    bad_methods = {
        feature: method for feature, method in sorted(methods.items()) if method not in PROBABILITY_METHODS
    }
    if bad_methods:
        raise ParamValidationError(
            f"unknown probability method(s) {bad_methods}; expected one of {list(PROBABILITY_METHODS)}",
            param="methods",
            value=bad_methods,
            rule=f"one of {list(PROBABILITY_METHODS)}",
        )
    unmapped = sorted(set(weights) - set(methods))
    if unmapped:
        raise ParamValidationError(
            f"weight(s) given for feature(s) {unmapped} that have no method",
            param="weights",
            value=unmapped,
            rule="every weighted feature needs a method",
        )
    bad_weights = {
        feature: weight
        for feature, weight in sorted(weights.items())
        if not is_finite_number(weight) or weight < 0
    }
    if bad_weights:
        raise ParamValidationError(
            f"weights must be finite and >= 0, got {bad_weights}",
            param="weights",
            value=bad_weights,
            rule="finite and >= 0",
        )
    if not any(weight > 0 for weight in weights.values()):
        raise ParamValidationError(
            "at least one weight must be positive",
            param="weights",
            value=dict(weights),
            rule="some weight > 0",
        )
    if not (isinstance(eps, (int, float)) and 0.0 < eps < 0.5):
        raise ParamValidationError(
            f"eps must be in (0, 0.5), got {eps!r}", param="eps", value=eps, rule="0 < eps < 0.5"
        )


def mps_score(
    features: pd.DataFrame,
    methods: Mapping[str, str],
    weights: Mapping[str, float],
    *,
    eps: float = DEFAULT_EPS,
) -> pd.DataFrame:
    """Probabilities ``p_<feature>`` (one per feature in `methods`) and the MPS ``score``.

    Rows are the symbols of `features`, sorted. Columns are the probability columns in sorted
    feature order, then ``score = sum_f weights[f] * log(p_f)`` over the features of positive
    weight (summed in sorted name order so the result is bitwise reproducible). Features of
    `features` not named in `methods` are ignored; every feature of `weights` needs a method.
    Raises ParamValidationError naming unknown features, unknown methods or bad weights, and
    DataValidationError for an infinite or non-numeric feature value.
    """
    _validate(features, methods, weights, eps)
    ordered = features.sort_index()
    names = sorted(methods)
    probabilities: dict[str, np.ndarray] = {}
    for name in names:
        try:
            values = ordered[name].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise DataValidationError(
                f"feature values must be numeric: {error}", source="features", column=name, rule="numeric"
            ) from error
        if np.isinf(values).any():
            symbol = ordered.index[int(np.argmax(np.isinf(values)))]
            raise DataValidationError(
                "feature values must be finite or NaN",
                source="features",
                column=name,
                row=symbol,
                rule="finite",
            )
        probabilities[name] = feature_probability(values, methods[name], eps=eps)
    score = np.zeros(len(ordered))
    for name in names:
        weight = float(weights.get(name, 0.0))
        if weight > 0:
            score = score + weight * np.log(probabilities[name])
    columns = {f"p_{name}": probabilities[name] for name in names}
    columns["score"] = score
    return pd.DataFrame(columns, index=ordered.index.copy())
