"""allocation.optimize: weights across the strategy atoms."""

from __future__ import annotations

from quant_core.context import SelectionContext
from quant_core.stage import Stage, StageOutputs

from quant_stages.allocation_params import AllocationParams


class Optimize(Stage[SelectionContext]):
    """Weights across the strategy atoms with a risk engine: equal weight, inverse volatility,
    minimum variance, maximum Sharpe (the tangency portfolio through the homogenised convex
    reformulation, Cornuejols & Tutuncu 2007), equal risk contributions (Maillard, Roncalli &
    Teiletche 2010), hierarchical risk parity (Lopez de Prado 2016; weight bounds inside the
    recursive bisection as in skfolio and Riskfolio-Lib, or by projection: `hrp_bounds`) and
    cluster-aware allocation. Sample or Ledoit-Wolf covariance (Ledoit & Wolf 2004), annualised by each asset's calendar.

    Per-position min/max and a per-cluster cap hold for every engine; a failed solve falls back
    along the configured chain and the output records which engine produced the weights.
    """

    id = "allocation.optimize"
    # 2 (issue 16): data-defined asset order (permutation invariant); HRP bounds inside the bisection.
    # 2 (issue 15, made in parallel): `allocation.top_weights`, the largest positions inline.
    # 3: both of those changes together.
    version = "3"
    tags = ("allocation",)
    context_type = SelectionContext
    Params = AllocationParams

    class Outputs(StageOutputs):
        weights: dict
        allocation: dict

    def execute(self, context: SelectionContext) -> SelectionContext:
        from quant_stages.allocation import allocate_atoms, allocation_record, top_weights
        from quant_stages.frames import get_frame, put_frame

        atom_returns = get_frame(self.artifacts, context.artifacts.get("atom_returns"), what="atom returns (run selection.synthesis first)")
        features = get_frame(self.artifacts, context.features, what="features") if context.features else None
        asset_ppy = features["periods_per_year"].to_dict() if features is not None else None
        table, result = allocate_atoms(self.params, atom_returns, context.strategy_atoms, context.clusters, asset_ppy)
        ref = put_frame(self.artifacts, table)
        record = allocation_record(result) | {"positions": len(table), "top_weights": top_weights(table)}
        return context.model_copy(update={
            "weights": ref, "allocation": record, "artifacts": context.with_artifacts(weights=ref),
        })
