"""Selection policy: vetoes with reasons, top-N per cluster by score, long/short split.

Every threshold comes from `PolicyThresholds`; a threshold left at None turns its rule off. A
rule that is on vetoes a candidate whose feature is on the wrong side of the threshold (the
threshold itself passes) or is NaN (a candidate that cannot be shown to pass does not pass).

Friction rule: a candidate must be expected to earn more than its trading costs. Its
directional momentum (annualised momentum, sign-flipped for a short) minus the annual cost
``2 * cost_bps / 1e4 * round_trips_per_year`` (`cost_bps` is the one-way cost, a round trip
pays it twice) must be at least ``min_friction_margin``.

Among the candidates left, each cluster keeps its `top_n_per_cluster` best scores (ties broken
by symbol, the smaller first); the winners are split into long and short by their direction.
The result does not depend on the order of any input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Final

import numpy as np
import pandas as pd

from quant_core.errors import DataValidationError, ParamValidationError

from quant_stages.kernels.checks import is_finite_number, is_int, is_number

#: Veto reasons, in the order a symbol's reasons are listed.
VETO_REASONS: Final[tuple[str, ...]] = (
    "liquidity",
    "entropy",
    "efficiency",
    "kurtosis",
    "volatility",
    "history",
    "coverage",
    "stale",
    "friction",
    "missing_score",
)

#: (reason, threshold field, feature column, True when the feature must be >= the threshold).
_FEATURE_RULES: Final[tuple[tuple[str, str, str, bool], ...]] = (
    ("liquidity", "min_liquidity", "liquidity", True),
    ("entropy", "max_entropy", "entropy", False),
    ("efficiency", "min_efficiency", "efficiency", True),
    ("kurtosis", "max_kurtosis", "kurtosis", False),
    ("volatility", "max_volatility", "volatility", False),
    ("history", "min_history", "history", True),
    ("coverage", "min_coverage", "coverage", True),
    ("stale", "max_stale", "stale", False),
)

_DIRECTION_SIGNS: Final[Mapping[object, int]] = {"long": 1, "short": -1, 1: 1, -1: -1}


@dataclass(frozen=True)
class PolicyThresholds:
    """Veto thresholds; None turns a rule off. Units are those of the features."""

    min_liquidity: float | None = None
    max_entropy: float | None = None
    min_efficiency: float | None = None
    max_kurtosis: float | None = None
    max_volatility: float | None = None
    min_history: float | None = None
    min_coverage: float | None = None
    max_stale: float | None = None
    min_friction_margin: float | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and not is_finite_number(value):
                raise ParamValidationError(
                    f"threshold {field.name} must be a finite number or None, got {value!r}",
                    param=field.name,
                    value=value,
                    rule="finite number or None",
                )


@dataclass(frozen=True)
class PolicyResult:
    """Outcome of the policy.

    ``vetoes``: vetoed symbol -> its reasons in `VETO_REASONS` order (symbols sorted).
    ``winners``, ``long``, ``short``: selected symbols, sorted.
    ``selected_by_cluster``: every cluster (sorted by name) -> its selected symbols, best score
    first; an empty list when every member was vetoed.
    """

    vetoes: dict[str, list[str]]
    winners: list[str]
    long: list[str]
    short: list[str]
    selected_by_cluster: dict[str, list[str]]


def _validate_scalars(
    top_n_per_cluster: int, cost_bps: float, round_trips_per_year: float, thresholds: object
) -> None:
    if not isinstance(thresholds, PolicyThresholds):
        raise ParamValidationError(
            f"thresholds must be a PolicyThresholds, got {type(thresholds).__name__}",
            param="thresholds",
            rule="PolicyThresholds",
        )
    if (
        not is_int(top_n_per_cluster)
        or top_n_per_cluster < 1
    ):
        raise ParamValidationError(
            f"top_n_per_cluster must be an integer >= 1, got {top_n_per_cluster!r}",
            param="top_n_per_cluster",
            value=top_n_per_cluster,
            rule="integer >= 1",
        )
    for name, value in (("cost_bps", cost_bps), ("round_trips_per_year", round_trips_per_year)):
        if not is_finite_number(value) or value < 0:
            raise ParamValidationError(
                f"{name} must be a finite number >= 0, got {value!r}",
                param=name,
                value=value,
                rule="finite and >= 0",
            )


def _unique_index(frame: pd.DataFrame | pd.Series, source: str) -> None:
    if not isinstance(frame, (pd.DataFrame, pd.Series)):
        raise DataValidationError(
            f"expected a pandas object indexed by symbol, got {type(frame).__name__}",
            source=source,
            rule="type",
        )
    if not frame.index.is_unique:
        raise DataValidationError(
            "duplicated symbols",
            source=source,
            row=frame.index[frame.index.duplicated()][0],
            rule="unique_index",
        )


def _cluster_of(symbols: Sequence[str], clusters: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Position of each symbol's cluster in sorted(clusters); one cluster per symbol, no stranger."""
    assignment: dict[str, str] = {}
    known = set(symbols)
    for name in sorted(clusters):
        for member in clusters[name]:
            if member in assignment:
                raise DataValidationError(
                    f"symbol is in clusters {assignment[member]!r} and {name!r}",
                    source="clusters",
                    row=member,
                    rule="one_cluster_per_symbol",
                )
            if member not in known:
                raise DataValidationError(
                    "cluster member has no features",
                    source="clusters",
                    row=member,
                    rule="members_have_features",
                )
            assignment[member] = name
    orphans = [symbol for symbol in symbols if symbol not in assignment]
    if orphans:
        raise DataValidationError(
            f"{len(orphans)} symbol(s) in no cluster: {orphans[:10]!r}",
            source="clusters",
            row=orphans[0],
            rule="every_symbol_clustered",
        )
    position = {name: number for number, name in enumerate(sorted(clusters))}
    return np.array([position[assignment[symbol]] for symbol in symbols], dtype=np.int64)


def _sign_of(direction: object) -> int | None:
    """+1 for long, -1 for short, None for anything else (booleans included)."""
    if isinstance(direction, str):
        return _DIRECTION_SIGNS.get(direction.lower())
    if is_number(direction):
        return _DIRECTION_SIGNS.get(direction)
    return None


def _direction_signs(directions: pd.Series, index: pd.Index) -> np.ndarray:
    _unique_index(directions, "directions")
    missing = index.difference(directions.index)
    if len(missing):
        raise DataValidationError(
            f"no direction for {len(missing)} symbol(s): {list(missing[:10])!r}",
            source="directions",
            row=missing[0],
            rule="every_symbol_has_direction",
        )
    signs = []
    for symbol, value in zip(index, directions.reindex(index).tolist(), strict=True):
        sign = _sign_of(value)
        if sign is None:
            raise DataValidationError(
                f"direction must be 'long', 'short', 1 or -1, got {value!r}",
                source="directions",
                row=symbol,
                rule="direction_value",
            )
        signs.append(sign)
    return np.asarray(signs, dtype=np.int64)


def _feature(features: pd.DataFrame, column: str, rule: str) -> np.ndarray:
    if column not in features.columns:
        raise DataValidationError(
            f"feature {column!r} is needed by the rule {rule!r} but missing",
            source="features",
            column=column,
            rule="feature_present",
        )
    try:
        return features[column].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise DataValidationError(
            f"feature values must be numeric: {error}", source="features", column=column, rule="numeric"
        ) from error


def apply_policy(
    features: pd.DataFrame,
    scores: pd.Series,
    clusters: Mapping[str, Sequence[str]],
    directions: pd.Series,
    *,
    thresholds: PolicyThresholds,
    top_n_per_cluster: int,
    cost_bps: float,
    round_trips_per_year: float = 12.0,
) -> PolicyResult:
    """Veto, rank within clusters and split long/short (see the module docstring).

    The candidates are the symbols of `features` (index); each needs a cluster in `clusters`
    and a direction ('long'/'short' or +1/-1) in `directions`. A candidate absent from
    `scores` or with a NaN score is vetoed with ``missing_score``; extra entries of `scores`
    and `directions` are ignored.
    """
    _validate_scalars(top_n_per_cluster, cost_bps, round_trips_per_year, thresholds)
    _unique_index(features, "features")
    _unique_index(scores, "scores")
    ordered = features.sort_index()
    symbols = [str(symbol) for symbol in ordered.index]
    cluster_codes = _cluster_of(symbols, clusters)
    signs = _direction_signs(directions, ordered.index)
    try:
        score = scores.reindex(ordered.index).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise DataValidationError(
            f"scores must be numeric: {error}", source="scores", rule="numeric"
        ) from error

    failed = np.zeros((len(symbols), len(VETO_REASONS)), dtype=bool)
    for reason, field_name, column, at_least in _FEATURE_RULES:
        threshold = getattr(thresholds, field_name)
        if threshold is None:
            continue
        values = _feature(ordered, column, reason)
        passes = values >= threshold if at_least else values <= threshold
        failed[:, VETO_REASONS.index(reason)] = ~passes  # NaN compares False: vetoed
    if thresholds.min_friction_margin is not None:
        annual_cost = 2.0 * cost_bps / 1e4 * round_trips_per_year
        margin = signs * _feature(ordered, "momentum", "friction") - annual_cost
        failed[:, VETO_REASONS.index("friction")] = ~(margin >= thresholds.min_friction_margin)
    failed[:, VETO_REASONS.index("missing_score")] = np.isnan(score)

    vetoed = failed.any(axis=1)
    vetoes = {
        symbols[row]: [VETO_REASONS[column] for column in np.flatnonzero(failed[row])]
        for row in np.flatnonzero(vetoed)
    }

    eligible = np.flatnonzero(~vetoed)
    # Sort keys, last is primary: cluster, then best score first, then symbol (rows are sorted).
    order = eligible[np.lexsort((eligible, -score[eligible], cluster_codes[eligible]))]
    cluster_list = sorted(clusters)
    selected_by_cluster: dict[str, list[str]] = {name: [] for name in cluster_list}
    winner_rows: list[int] = []
    for row in order.tolist():
        members = selected_by_cluster[cluster_list[cluster_codes[row]]]
        if len(members) < top_n_per_cluster:
            members.append(symbols[row])
            winner_rows.append(row)
    winner_rows.sort()
    winners = [symbols[row] for row in winner_rows]
    return PolicyResult(
        vetoes=vetoes,
        winners=winners,
        long=[symbols[row] for row in winner_rows if signs[row] > 0],
        short=[symbols[row] for row in winner_rows if signs[row] < 0],
        selected_by_cluster=selected_by_cluster,
    )
