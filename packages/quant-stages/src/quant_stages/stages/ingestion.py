"""selection.ingestion: load candidates and returns, validate, store as artifacts."""

from __future__ import annotations

from pydantic import Field
from quant_core.context import AuditEvent, SelectionContext
from quant_core.stage import Stage, StageOutputs

from quant_stages.data.candidates import candidates_to_records, validate_candidates
from quant_stages.stages.source import SourceParams, file_digests, load_source


class IngestionParams(SourceParams):
    start: str | None = Field(default=None, description="first date kept (ISO, UTC)")
    end: str | None = Field(default=None, description="last date kept (ISO, UTC)")


class Ingestion(Stage[SelectionContext]):
    """Load candidates and the returns matrix, validate both against the data contracts, reconcile
    them, drop columns without a single observation, and store both as artifacts.

    No rule that needs the whole sample decides the universe here: coverage, listing age,
    staleness and liquidity are vetoes of `selection.policy`, computed from the rows it is given,
    so the walk-forward backtest applies them to each train window alone (a point-in-time
    universe). When the context already holds a screened pool (`discovery.universe`), that pool
    is the candidate list. Every dropped symbol is written to the audit trail with its reason.
    """

    id = "selection.ingestion"
    version = "2"  # 2: no whole-sample coverage rule (moved to the policy, per window)
    tags = ("selection", "data")
    context_type = SelectionContext
    Params = IngestionParams

    class Outputs(StageOutputs):
        raw_pool: dict
        returns: dict

    def cache_inputs(self) -> dict[str, str]:
        return file_digests(self.params.candidates_path, self.params.returns_path)

    def execute(self, context: SelectionContext) -> SelectionContext:
        from quant_stages.data.returns import drop_unobserved, reconcile, validate_returns
        from quant_stages.frames import put_frame

        p = self.params
        loaded = load_source(p)
        source = p.returns_path or f"dataset {p.dataset or 'synthetic'}"
        candidates = loaded.candidates
        if context.raw_pool is not None:
            candidates = validate_candidates(self.artifacts.get_json(context.raw_pool), source="raw_pool")
        returns = loaded.returns
        if not p.uses_files:  # files were validated on reading, with the user's assume_utc
            returns = validate_returns(returns, source, max_abs_return=p.max_abs_return)
        if p.start or p.end:
            returns = returns.loc[p.start : p.end]
        events: list[AuditEvent] = []
        candidates, returns, report = reconcile(candidates, returns)
        if not report.clean:
            events.append(AuditEvent(
                stage_id=self.SPEC.id, level="warning", code="reconciled",
                message=(f"dropped {len(report.candidates_without_returns)} candidate(s) without returns "
                         f"and {len(report.returns_without_candidate)} returns column(s) without a candidate"),
                data=report.to_dict(),
            ))
        returns, dropped = drop_unobserved(returns)
        if dropped:
            events.append(AuditEvent(
                stage_id=self.SPEC.id, level="warning", code="no-observations",
                message=f"dropped {len(dropped)} asset(s) without a single observation",
                data={"dropped": dropped},
            ))
            gone = set(dropped)
            candidates = [c for c in candidates if c.symbol not in gone]
        pool = self.artifacts.put_json(candidates_to_records(candidates))
        matrix = put_frame(self.artifacts, returns)
        events.append(AuditEvent(
            stage_id=self.SPEC.id, code="ingested",
            message=f"{len(candidates)} assets x {len(returns)} dates",
            data={"assets": len(candidates), "dates": len(returns),
                  "first": returns.index[0].isoformat() if len(returns) else None,
                  "last": returns.index[-1].isoformat() if len(returns) else None},
        ))
        return context.model_copy(update={
            "raw_pool": pool, "returns": matrix,
            "artifacts": context.with_artifacts(raw_pool=pool, returns=matrix),
            "audit_trail": context.with_events(*events),
        })
