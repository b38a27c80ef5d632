"""discovery.universe: screen a universe into candidates."""

from __future__ import annotations

from pydantic import Field
from quant_core.context import AuditEvent, SelectionContext
from quant_core.stage import Stage, StageOutputs

from quant_stages.data.candidates import candidates_to_records
from quant_stages.stages.source import SourceParams, file_digests, load_source


class UniverseParams(SourceParams):
    asset_classes: list[str] | None = Field(default=None, description="keep these asset classes")
    exchanges: list[str] | None = Field(default=None, description="keep these exchanges")
    min_value_traded: float = Field(default=0.0, ge=0.0, description="liquidity floor (daily value traded)")
    top_n: int | None = Field(default=None, ge=1, description="keep the N most liquid")


class DiscoverUniverse(Stage[SelectionContext]):
    """Screen a universe (dataset or file) into candidates: asset class, exchange, liquidity floor
    and top-N by liquidity (value traded, ties broken by symbol).

    A plain screen as in any index methodology (e.g. liquidity screens of MSCI/FTSE rules);
    every exclusion is counted in the audit trail.
    """

    id = "discovery.universe"
    version = "1"
    tags = ("discovery",)
    context_type = SelectionContext
    Params = UniverseParams

    class Outputs(StageOutputs):
        raw_pool: dict

    def cache_inputs(self) -> dict[str, str]:
        return file_digests(self.params.candidates_path)

    def execute(self, context: SelectionContext) -> SelectionContext:
        p = self.params
        candidates = load_source(p).candidates
        total = len(candidates)
        kept = [
            c for c in candidates
            if (p.asset_classes is None or c.asset_class in p.asset_classes)
            and (p.exchanges is None or c.exchange in p.exchanges)
            and (c.value_traded or 0.0) >= p.min_value_traded
        ]
        kept.sort(key=lambda c: (-(c.value_traded or 0.0), c.symbol))
        if p.top_n is not None:
            kept = kept[: p.top_n]
        kept.sort(key=lambda c: c.symbol)
        ref = self.artifacts.put_json(candidates_to_records(kept))
        event = AuditEvent(
            stage_id=self.SPEC.id, code="screened",
            message=f"kept {len(kept)} of {total} candidates",
            data={"total": total, "kept": len(kept)},
        )
        return context.model_copy(
            update={"raw_pool": ref, "artifacts": context.with_artifacts(raw_pool=ref),
                    "audit_trail": context.with_events(event)}
        )
