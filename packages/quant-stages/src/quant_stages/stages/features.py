"""selection.features: per-asset features, vectorised over assets."""

from __future__ import annotations

from pydantic import Field
from quant_core.context import SelectionContext
from quant_core.stage import Stage, StageOutputs, StageParams



class FeaturesParams(StageParams):
    # le=7: the kernel's MAX_ENTROPY_ORDER (7! patterns per asset); not imported, to keep
    # registering stages free of numpy/pandas imports
    entropy_order: int = Field(default=5, ge=2, le=7, description="permutation entropy order")
    entropy_delay: int = Field(default=1, ge=1, description="permutation entropy delay")
    efficiency_window: int | None = Field(default=None, ge=2, description="efficiency ratio window (None: whole history)")
    hurst_min_window: int = Field(default=8, ge=4, description="smallest rescaled-range window")
    cvar_level: float = Field(default=0.05, gt=0, lt=0.5, description="expected shortfall tail")
    lookback: int | None = Field(default=None, ge=20, description="use only the last N dates")


class Features(Stage[SelectionContext]):
    """Per asset: momentum (annualised mean), volatility, permutation entropy (Bandt & Pompe 2002,
    order 5, normalised), Kaufman efficiency ratio (Kaufman 1995), Hurst exponent by rescaled range
    (Hurst 1951, Anis-Lloyd corrected), skew, excess kurtosis, CVaR at 5% (Rockafellar & Uryasev
    2000), a liquidity score from value traded, the history length, and the point-in-time coverage
    and staleness of its calendar as of the last date given (the universe rules of the policy).

    Each asset is annualised by its own calendar (365 for assets that trade every day, 252
    otherwise) and uses only its own observations: gaps are skipped, never zero-filled.
    """

    id = "selection.features"
    version = "2"  # 2: coverage and stale columns
    tags = ("selection",)
    context_type = SelectionContext
    Params = FeaturesParams

    class Outputs(StageOutputs):
        features: dict

    def execute(self, context: SelectionContext) -> SelectionContext:
        from quant_stages.data.returns import periods_per_year
        from quant_stages.frames import put_frame
        from quant_stages.kernels.features import compute_features
        from quant_stages.stages.inputs import candidate_table, candidates_of, returns_of

        p = self.params
        returns = returns_of(self.artifacts, context)
        if p.lookback is not None:
            returns = returns.iloc[-p.lookback :]
        table = candidate_table(candidates_of(self.artifacts, context)).reindex(returns.columns)
        ppy = periods_per_year(returns, table["asset_class"].to_dict())
        frame = compute_features(
            returns, ppy, table["value_traded"],
            entropy_order=p.entropy_order, entropy_delay=p.entropy_delay,
            efficiency_window=p.efficiency_window, hurst_min_window=p.hurst_min_window,
            cvar_level=p.cvar_level,
        )
        frame = frame.assign(periods_per_year=ppy.reindex(frame.index).astype(float))
        ref = put_frame(self.artifacts, frame)
        return context.model_copy(update={"features": ref, "artifacts": context.with_artifacts(features=ref)})
