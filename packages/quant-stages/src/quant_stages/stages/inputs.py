"""Reading a selection context's inputs back from the artifact store."""

from __future__ import annotations

import json

import pandas as pd
from quant_core.artifacts import ArtifactStore
from quant_core.context import SelectionContext
from quant_core.errors import DataValidationError

from quant_stages.data.candidates import Candidate, validate_candidates
from quant_stages.frames import TransientStore, get_frame


def candidates_of(store: ArtifactStore, context: SelectionContext) -> list[Candidate]:
    if context.raw_pool is None:
        raise DataValidationError(
            "the context holds no candidates (raw_pool): run selection.ingestion first", rule="missing-input"
        )
    def decode(data: bytes) -> list[Candidate]:
        return validate_candidates(json.loads(data), source="raw_pool")

    if isinstance(store, TransientStore):  # the backtest's windows all read the same pool
        return store.decoded(context.raw_pool, "candidates", decode)
    return decode(store.get(context.raw_pool))


def returns_of(store: ArtifactStore, context: SelectionContext, columns: list[str] | None = None) -> pd.DataFrame:
    return get_frame(store, context.returns, what="returns matrix (run selection.ingestion first)", columns=columns)


def candidate_table(candidates: list[Candidate]) -> pd.DataFrame:
    """One row per symbol (sorted): asset_class, sector, direction, value_traded."""
    rows = {
        c.symbol: {
            "asset_class": c.asset_class, "sector": c.sector, "direction": c.direction,
            "value_traded": float(c.value_traded) if c.value_traded is not None else float("nan"),
        }
        for c in candidates
    }
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()
