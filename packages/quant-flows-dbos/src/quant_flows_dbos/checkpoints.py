"""What DBOS checkpoints for one stage attempt, and how a replayed one is recorded.

A stage attempt is one DBOS step whose output, the part DBOS stores, is the attempt's
`AttemptOutcome` (quant_core.remote) as JSON, made smaller still: the output context is kept as
the fields the stage changed plus the audit events it added (the workflow knows the input
context when it replays, so the rest adds nothing), and the context snapshot, which repeats the
output context, is rebuilt from it. A change larger than `INLINE_DELTA_BYTES` (a stage that keeps
a large collection inline in the context) goes to the artifact store, where large data lives,
and the checkpoint holds its ref: a checkpoint stays within a few KB at any universe size. Should
that artifact be gone when the step is replayed (a store clean-up), the step's snapshot in the
run record has the same context.

A step DBOS replays from its checkpoint did not run now: its ledger line and snapshot were written
when it ran, unless the process died between the checkpoint and the record. `ReplayedRecord`
writes them only when they are missing, so a resumed run's ledger shows each execution once.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from quant_core.artifacts import ArtifactRef, ArtifactStore
from quant_core.context import RunContext
from quant_core.errors import ArtifactError
from quant_core.records import LedgerEntry, RunRecord
from quant_core.remote import AttemptOutcome

_TRAIL = "audit_trail"
#: Above this, a context delta is stored as an artifact and checkpointed as its ref.
INLINE_DELTA_BYTES = 4096
DELTA_MEDIA_TYPE = "application/vnd.quant.context-delta+json"


class StepCheckpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The outcome without its output context and without the snapshot that repeats it.
    outcome: dict[str, JsonValue]
    #: Top-level fields of the output context that differ from the input context.
    context_delta: dict[str, JsonValue] | None = None
    #: Or, when that is large, the artifact holding it.
    context_delta_ref: ArtifactRef | None = None
    #: Audit events the stage appended to the input context's trail.
    audit_added: list[JsonValue] | None = None
    #: The snapshot name under which the output context was recorded, when it was.
    output_snapshot: str | None = None


def checkpoint(outcome: AttemptOutcome, given: dict[str, Any], store: ArtifactStore) -> dict[str, Any]:
    """`outcome` of an attempt on the context `given` (JSON), as the step's checkpoint (JSON)."""
    data = outcome.model_dump(mode="json")
    output = data.pop("context")
    snapshots = data.pop("snapshots")
    compact: dict[str, Any] = {"outcome": {**data, "snapshots": snapshots}}
    if output is None:
        return compact
    delta = {key: value for key, value in output.items() if key != _TRAIL and given.get(key) != value}
    before, trail = given[_TRAIL], output[_TRAIL]
    added = trail[len(before):]
    if trail[: len(before)] != before:
        delta[_TRAIL], added = trail, []
    if _applied(given, delta, added) != output:  # never expected; a whole checkpoint is always right
        return {"outcome": outcome.model_dump(mode="json")}
    compact["audit_added"] = added
    if snapshots and snapshots[-1][1] == output:
        compact["output_snapshot"] = snapshots.pop()[0]
    encoded = json.dumps(delta, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    if len(encoded) > INLINE_DELTA_BYTES and "output_snapshot" in compact:
        compact["context_delta_ref"] = store.put(encoded, DELTA_MEDIA_TYPE).model_dump(mode="json")
    else:
        compact["context_delta"] = delta
    return compact


def restore(
    data: dict[str, Any], given: dict[str, Any], store: ArtifactStore, record: RunRecord | None = None
) -> AttemptOutcome:
    """The `AttemptOutcome` a checkpoint holds, for the context `given` it was made on (`record`:
    where to find the step's snapshot if its spilled delta is gone)."""
    saved = StepCheckpoint.model_validate(data)
    outcome = dict(saved.outcome)
    if saved.context_delta is not None or saved.context_delta_ref is not None:
        output = _output_context(saved, given, store, record)
        outcome["context"] = output
        if saved.output_snapshot is not None:
            outcome["snapshots"] = [*outcome.get("snapshots", []), (saved.output_snapshot, output)]
    return AttemptOutcome.model_validate(outcome)


def _output_context(
    saved: StepCheckpoint, given: dict[str, Any], store: ArtifactStore, record: RunRecord | None
) -> dict[str, Any]:
    delta = saved.context_delta
    if delta is None:
        assert saved.context_delta_ref is not None and saved.output_snapshot is not None
        try:
            delta = json.loads(store.get(saved.context_delta_ref))
        except ArtifactError:
            if record is None:
                raise
            return record.read_context(saved.output_snapshot).model_dump(mode="json")
    return _applied(given, delta, saved.audit_added or [])


def _applied(given: dict[str, Any], delta: dict[str, Any], added: list[Any]) -> dict[str, Any]:
    return {**given, _TRAIL: [*given[_TRAIL], *added], **delta}


class ReplayedRecord:
    """A run record that takes a replayed step's ledger line and snapshot only if it lacks them."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.run_id = record.run_id

    context_name = staticmethod(RunRecord.context_name)

    def append_ledger(self, entry: LedgerEntry) -> None:
        if entry not in self.record.read_ledger():
            self.record.append_ledger(entry)

    def write_context(self, name: str, context: RunContext) -> None:
        data = context.model_dump(mode="json")
        if (name, data) not in self.record.context_entries():
            self.record.write_context(name, context)


def recorder(record: RunRecord, replayed: bool) -> RunRecord:
    """Where a step's ledger line and snapshot go: the record, or only what it lacks."""
    return ReplayedRecord(record) if replayed else record  # type: ignore[return-value]

