"""selection.policy: vetoes with reasons, top-N per cluster, long/short split."""

from __future__ import annotations

from pydantic import Field
from quant_core.context import AuditEvent, SelectionContext
from quant_core.stage import Stage, StageOutputs, StageParams



class PolicyParams(StageParams):
    min_liquidity: float | None = Field(default=None, description="veto below this liquidity score (log10 value traded)")
    max_entropy: float | None = Field(default=None, ge=0, le=1, description="veto above this permutation entropy")
    min_efficiency: float | None = Field(default=None, ge=0, le=1, description="veto below this efficiency ratio")
    max_kurtosis: float | None = Field(default=None, description="veto above this excess kurtosis")
    max_volatility: float | None = Field(default=None, gt=0, description="veto above this annualised volatility")
    min_history: int | None = Field(default=None, ge=1, description="veto with fewer observations (listing age)")
    min_coverage: float | None = Field(default=0.9, ge=0.0, le=1.0, description="veto below this coverage of its calendar, from its first observation to the last date seen")
    max_stale: int | None = Field(default=5, ge=0, description="veto when it has not traded for more than this many dates of its calendar")
    min_friction_margin: float | None = Field(default=None, description="veto when momentum minus trading cost is below this")
    top_n_per_cluster: int = Field(default=2, ge=1, description="winners kept per cluster")
    cost_bps: float = Field(default=10.0, ge=0, description="round-trip trading cost in basis points")
    round_trips_per_year: float = Field(default=12.0, ge=0, description="assumed turnover for the friction rule")


class Policy(Stage[SelectionContext]):
    """Veto candidates by rules computed from their features, each veto with its reasons
    (liquidity floor, entropy ceiling, efficiency floor, kurtosis and volatility ceilings, history
    too short, coverage too low, stale: no trade for too long, friction: momentum net of
    estimated trading cost below a hurdle); then keep the top-N per cluster by MPS score and split
    them long/short by direction. Every threshold comes from the params (a rule left unset is
    off); ties are broken by symbol.

    The vetoes are the point-in-time universe: every feature they read is computed from the rows
    the selection is given, so on a walk-forward train window they say who was investable at
    that window's end (listed long enough, trading, covered, liquid), never using later data.
    """

    id = "selection.policy"
    version = "2"  # 2: coverage and staleness vetoes (the universe, point in time)
    tags = ("selection",)
    context_type = SelectionContext
    Params = PolicyParams

    class Outputs(StageOutputs):
        vetoes: dict[str, list[str]]
        winners: list[str]

    def execute(self, context: SelectionContext) -> SelectionContext:
        from quant_stages.frames import get_frame
        from quant_stages.kernels.policy import PolicyThresholds, apply_policy
        from quant_stages.stages.inputs import candidate_table, candidates_of

        p = self.params
        features = get_frame(self.artifacts, context.features, what="features (run selection.features first)")
        scores = get_frame(self.artifacts, context.scores, what="scores (run selection.inference first)")["score"]
        table = candidate_table(candidates_of(self.artifacts, context)).reindex(features.index)
        thresholds = PolicyThresholds(
            min_liquidity=p.min_liquidity, max_entropy=p.max_entropy, min_efficiency=p.min_efficiency,
            max_kurtosis=p.max_kurtosis, max_volatility=p.max_volatility,
            min_history=float(p.min_history) if p.min_history is not None else None,
            min_coverage=p.min_coverage, max_stale=float(p.max_stale) if p.max_stale is not None else None,
            min_friction_margin=p.min_friction_margin,
        )
        result = apply_policy(
            features, scores, context.clusters, table["direction"], thresholds=thresholds,
            top_n_per_cluster=p.top_n_per_cluster, cost_bps=p.cost_bps,
            round_trips_per_year=p.round_trips_per_year,
        )
        event = AuditEvent(
            stage_id=self.SPEC.id, code="selected",
            message=f"{len(result.winners)} winners ({len(result.long)} long, {len(result.short)} short); {len(result.vetoes)} vetoed",
            data={"long": result.long, "short": result.short, "selected_by_cluster": result.selected_by_cluster},
        )
        return context.model_copy(update={
            "vetoes": result.vetoes, "winners": result.winners, "audit_trail": context.with_events(event),
        })
