"""Fan-out over sleeves, shared by every executor: branch contexts out, outcomes back in, and the
strict success gate.

Every branch's outcome is gathered before the gate decides, so a failure report names all the
failed sleeves, not the first one to fail. The gathered context is compacted (`compacted`) before
it is recorded or sent on, as a stage's output is: its results are spilled past
`INLINE_LIMIT_BYTES`, so it stays small at any number of sleeves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quant_core.artifacts import ArtifactStore
from quant_core.context import MetaContext, RunContext, SelectionContext, SleeveResult, SleeveSpec, SpilledCollection
from quant_core.errors import QuantError, SleeveFailureError
from quant_core.hashing import content_hash
from quant_core.pipeline import FanOutStep
from quant_core.records import LedgerEntry, RunRecord, StepTimer, sleeve_run_id
from quant_core.spill import compact_context, expand


@dataclass(frozen=True)
class Branch:
    sleeve: SleeveSpec
    context: SelectionContext


@dataclass(frozen=True)
class BranchOutcome:
    branch: Branch
    context: RunContext | None = None
    error: str | None = None


def sleeve_name(parent_run_id: str, run_id: str) -> str:
    """The inverse of `sleeve_run_id`."""
    return run_id[len(parent_run_id) + 1 :]


def branches(context: RunContext, store: ArtifactStore | None = None) -> list[Branch]:
    """One branch per sleeve. The sleeves are inline in a run's start context; after a stage they
    may be a `SpilledCollection`, read back from `store` (the runtime's artifact store)."""
    if not isinstance(context, MetaContext):
        raise TypeError(f"a fan-out over sleeves needs a MetaContext, got {type(context).__name__}")
    sleeves = context.sleeves
    if isinstance(sleeves, SpilledCollection):
        if store is None:
            raise ValueError(
                f"run {context.run_id}: the sleeves are kept as an artifact (a stage ran before the "
                f"fan-out); pass the runtime's store to fanout.branches to read them"
            )
        sleeves = [SleeveSpec.model_validate(s) for s in expand(store, sleeves)]
    if not sleeves:
        raise ValueError(f"run {context.run_id}: the meta context lists no sleeves to fan out")
    names = [s.name for s in sleeves]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"run {context.run_id}: sleeve names must be unique, repeated: {duplicates}")
    return [
        Branch(
            sleeve=sleeve,
            context=SelectionContext(
                run_id=sleeve_run_id(context.run_id, sleeve.name), profile=sleeve.profile
            ),
        )
        for sleeve in sleeves
    ]


def describe_error(error: BaseException) -> str:
    return str(error) if isinstance(error, QuantError) else f"{type(error).__name__}: {error}"


def gather(context: MetaContext, step: FanOutStep, outcomes: Sequence[BranchOutcome]) -> MetaContext:
    results = []
    for outcome in outcomes:
        sleeve = outcome.branch.sleeve
        if outcome.error is None and outcome.context is not None:
            refs = outcome.context.artifacts
            kept = {k: v for k, v in refs.items() if not step.collect or k in step.collect}
            summary = getattr(outcome.context, "backtest", {}) or {}
            results.append(
                SleeveResult(
                    name=sleeve.name, profile=sleeve.profile, run_id=outcome.branch.context.run_id,
                    status="succeeded", artifacts=kept, summary=summary,
                )
            )
        else:
            results.append(
                SleeveResult(
                    name=sleeve.name, profile=sleeve.profile, run_id=outcome.branch.context.run_id,
                    status="failed", error=outcome.error or "the branch gave no result",
                )
            )
    return context.model_copy(update={"sleeve_results": results})


def compacted(store: ArtifactStore, gathered: MetaContext) -> MetaContext:
    """The gathered context as it is recorded and sent on: its collections past
    `INLINE_LIMIT_BYTES` spilled (the same on every executor: it depends only on the content)."""
    return compact_context(store, gathered, events_from=len(gathered.audit_trail))  # type: ignore[return-value]


def failed_sleeves(gathered: MetaContext) -> list[str]:
    """The names of the failed sleeves of a gathered context (its results inline)."""
    return [r.name for r in gathered.sleeve_results if r.status == "failed"]  # type: ignore[union-attr]


def record_fan_out(
    record: RunRecord,
    index: int,
    step: FanOutStep,
    context: RunContext,
    gathered: MetaContext,
    timer: StepTimer,
    *,
    executor: str,
    recorded: MetaContext,
) -> None:
    """The fan-out step's own entries in the parent run: the gathered context (`recorded`, its
    compact form) and one ledger line naming the failed sleeves (written before the gate decides,
    so the record shows them)."""
    record.write_context(record.context_name(index, step.step_id), recorded)
    failed = failed_sleeves(gathered)
    record.append_ledger(
        LedgerEntry(
            run_id=record.run_id, step=index, stage_id=step.step_id, status="failed" if failed else "succeeded",
            started_at=timer.started_at, duration_s=timer.elapsed(),
            input_hash=content_hash(context.cache_view()), output_hash=content_hash(recorded.cache_view()),
            error=f"failed sleeves: {', '.join(failed)}" if failed else None, executor=executor,
        )
    )


def gate(context: MetaContext, step: FanOutStep) -> None:
    """The strict success gate: any failed sleeve stops the run, naming every failure."""
    failures = {r.name: r.error or "failed" for r in context.sleeve_results if r.status == "failed"}  # type: ignore[union-attr]
    if failures and step.strict:
        raise SleeveFailureError(failures, run_id=context.run_id)


def conclude(
    record: RunRecord,
    *,
    step: int,
    fan_out: FanOutStep,
    context: MetaContext,
    outcomes: Sequence[BranchOutcome],
    timer: StepTimer,
    executor: str,
    store: ArtifactStore,
) -> MetaContext:
    """Everything after the branches ran, the same on every executor: gather their outcomes,
    record the fan-out's (compact) context snapshot and ledger line (which names the failed
    sleeves), then the gate. Gives the compact context, as a stage does."""
    gathered = gather(context, fan_out, outcomes)
    recorded = compacted(store, gathered)
    record_fan_out(record, step, fan_out, context, gathered, timer, executor=executor, recorded=recorded)
    gate(gathered, fan_out)
    return recorded
