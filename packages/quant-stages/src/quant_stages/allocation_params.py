"""Parameters of the allocation engines (light: pydantic only, so stage modules stay cheap to
import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from quant_core.stage import StageParams

Engine = Literal["equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity", "hrp", "cluster"]
BaseEngine = Literal["equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity", "hrp"]
WEIGHT_COLUMNS = ["symbol", "atom", "weight", "net_weight", "direction", "cluster", "risk_contribution"]


class EngineParams(StageParams):
    engine: Engine = Field(default="hrp", description="risk engine")
    covariance: Literal["sample", "ledoit_wolf"] = Field(default="ledoit_wolf", description="covariance estimator")
    lookback: int | None = Field(default=None, ge=20, description="estimate on the last N dates only")
    min_periods: int = Field(default=20, ge=2, description="fewest common observations per pair")
    linkage: Literal["ward", "average", "complete", "single"] = Field(default="ward", description="HRP linkage")
    hrp_bounds: Literal["bisection", "projection"] = Field(default="bisection", description="HRP: weight bounds applied inside the recursive bisection (as skfolio) or by projecting its weights")
    fallback: list[BaseEngine] = Field(default_factory=lambda: ["min_variance", "inverse_volatility", "equal_weight"], description="engines tried in turn when the engine fails")
    risk_free_rate: float = Field(default=0.0, description="annual risk-free rate (max_sharpe)")
    within_engine: BaseEngine = Field(default="inverse_volatility", description="cluster engine: within each cluster")
    across_engine: BaseEngine = Field(default="risk_parity", description="cluster engine: across clusters")


class AllocationParams(EngineParams):
    min_weight: float = Field(default=0.0, ge=0.0, le=1.0, description="per-position floor")
    max_weight: float = Field(default=1.0, gt=0.0, le=1.0, description="per-position cap")
    cluster_cap: float | None = Field(default=None, gt=0.0, le=1.0, description="cap on each cluster's total weight")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> AllocationParams:
        if self.min_weight > self.max_weight:
            raise ValueError(f"min_weight {self.min_weight} > max_weight {self.max_weight}: no weight fits between them")
        return self
