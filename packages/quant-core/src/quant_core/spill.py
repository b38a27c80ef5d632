"""Contexts that stay small at any universe size and any number of sleeves: large collections
ride as artifacts.

A context crosses every engine boundary and is checkpointed after every step, so it must stay
within `CONTEXT_BUDGET_BYTES` whatever the number of assets or sleeves. A context field that may
hold a `SpilledCollection` (clusters, vetoes, winners, strategy atoms, the composition map; a meta
context's sleeves, sleeve results, meta weights and report) is kept inline while its JSON is at
most `INLINE_LIMIT_BYTES`, and otherwise stored as a JSON artifact with a count and a summary
inline; so is the data of an audit event past that size. The start context is compacted when a
run is planned, and the fan-out's gathered context as a stage's output is.

A field whose items name runs derived from the context's run id (`RUN_RELATIVE_FIELDS`: a sleeve
result's run id is `<meta run>.<sleeve>`) is stored without them and given them back on expansion
(`RunContext.without_derived_run_ids` / `with_derived_run_ids`), as the cache view leaves them
out: so what is stored, and every cache key after it, does not change with the run id, and a run
under another id is still served from the cache. A context given another run id goes through
`with_run_id`, which reads such a field back first, so its run ids stay what they were.

The executor does it around every stage (`execute_stage`): `expand_context` before `execute`, so a
stage always sees the collections themselves, and `compact_context` after, so what is cached,
recorded and sent between machines is small. Everyone else who reads a recorded context (the CLI,
the report, the skills through the CLI's JSON) goes through `expanded_document`: one accessor, and
what a user sees is the same as if nothing had been spilled.

The decision depends only on the content (canonical JSON size), and artifacts are named by their
content, so the same output gives the same compact context, the same output hash and the same
cache key on every executor and every store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from quant_core.artifacts import ArtifactStore
from quant_core.context import AuditEvent, RunContext, SpilledCollection
from quant_core.hashing import canonical_json, sha256_hex

#: A collection (or an audit event's data) larger than this, as canonical JSON, becomes an artifact.
INLINE_LIMIT_BYTES = 1024
#: What a recorded context may weigh at most, whatever the universe size (ARCHITECTURE, section 2).
CONTEXT_BUDGET_BYTES = 10 * 1024


def spillable_fields(context: RunContext) -> tuple[str, ...]:
    """The fields of this context's type that may hold a `SpilledCollection`."""
    return _spillable(type(context))


_SPILLABLE_CACHE: dict[type, tuple[str, ...]] = {}


def _spillable(context_type: type[RunContext]) -> tuple[str, ...]:
    found = _SPILLABLE_CACHE.get(context_type)
    if found is None:
        found = tuple(
            name for name, info in context_type.model_fields.items() if SpilledCollection in get_args(info.annotation)
        )
        _SPILLABLE_CACHE[context_type] = found
    return found


def spill(store: ArtifactStore, value: Any, *, encoded: bytes | None = None) -> SpilledCollection:
    """Store a JSON collection as an artifact; its count and a summary stay inline."""
    ref = store.put(encoded if encoded is not None else canonical_json(value), "application/json")
    return SpilledCollection(ref=ref, count=len(value), summary=_summary(value))


def expand(store: ArtifactStore, value: Any) -> Any:
    """The collection itself, whether it is inline or spilled (read and hash-checked)."""
    return store.get_json(value.ref) if isinstance(value, SpilledCollection) else value


def expand_context(store: ArtifactStore, context: RunContext) -> tuple[RunContext, dict[str, SpilledCollection]]:
    """`context` with every spilled field read back, and the spilled values it had (so that an
    unchanged collection is not stored again by `compact_context`)."""
    spilled = {
        name: value for name in spillable_fields(context)
        if isinstance(value := getattr(context, name), SpilledCollection)
    }
    if not spilled:
        return context, spilled
    # validated again, so an expanded field is of its declared type (models, not dicts)
    data = context.model_dump(mode="json") | {
        name: context.with_derived_run_ids(name, expand(store, value)) for name, value in spilled.items()
    }
    return type(context).model_validate(data), spilled


def with_run_id(store: ArtifactStore, context: RunContext, run_id: str, **update: Any) -> RunContext:
    """`context` under another run id (and `update`): a spilled field that holds run ids derived
    from the old one (`RunContext.RUN_RELATIVE_FIELDS`) is read back first, so that its run ids
    stay what they were; the next compaction spills it with them."""
    relative = {
        name: context.with_derived_run_ids(name, expand(store, value)) for name in context.RUN_RELATIVE_FIELDS
        if isinstance(value := getattr(context, name), SpilledCollection)
    }
    if relative:
        context = type(context).model_validate(context.model_dump(mode="json") | relative)
    return context.model_copy(update={"run_id": run_id, **update})


def compact_context(
    store: ArtifactStore,
    context: RunContext,
    *,
    known: Mapping[str, SpilledCollection] | None = None,
    events_from: int = 0,
) -> RunContext:
    """`context` with every collection past `INLINE_LIMIT_BYTES` spilled, and the data of every
    audit event from index `events_from` on likewise (earlier events are already compact)."""
    known = known or {}
    update: dict[str, Any] = {}
    inline = [name for name in spillable_fields(context) if not isinstance(getattr(context, name), SpilledCollection)]
    as_json = context.model_dump(mode="json", include=set(inline)) if inline else {}
    for name in inline:
        # what is stored does not change with the run id (nor, so, does the cache key after it)
        value = context.without_derived_run_ids(name, as_json[name])
        encoded = canonical_json(value)
        if len(encoded) <= INLINE_LIMIT_BYTES:
            continue
        earlier = known.get(name)  # the stage passed its input's collection through unchanged
        same = earlier is not None and earlier.ref.sha256 == sha256_hex(encoded)
        update[name] = earlier if same else spill(store, value, encoded=encoded)
    events = context.audit_trail
    compact_events = [*events[:events_from], *(_compact_event(store, e) for e in events[events_from:])]
    if any(a is not b for a, b in zip(compact_events, events)):
        update["audit_trail"] = compact_events
    return context.model_copy(update=update) if update else context


def expanded(store: ArtifactStore, context: RunContext) -> RunContext:
    """`context` as a user expects to read it: spilled collections and audit event data back
    inline. The one accessor of recorded contexts for the SDK, the CLI, the report and the
    skills (through the CLI's JSON)."""
    full, spilled = expand_context(store, context)
    if not any(event.detail is not None for event in full.audit_trail):
        return full
    events = [
        event if event.detail is None else event.model_copy(update={"data": expand(store, event.detail), "detail": None})
        for event in full.audit_trail
    ]
    return full.model_copy(update={"audit_trail": events})


def expanded_document(store: ArtifactStore, context: RunContext, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """The JSON of `expanded(store, context)`."""
    return expanded(store, context).model_dump(mode="json", exclude=exclude)


def _compact_event(store: ArtifactStore, event: AuditEvent) -> AuditEvent:
    if event.detail is not None:
        return event
    encoded = canonical_json(event.data)
    if len(encoded) <= INLINE_LIMIT_BYTES:
        return event
    scalars = {k: v for k, v in event.data.items() if not isinstance(v, (dict, list))}
    return event.model_copy(update={"data": scalars, "detail": spill(store, event.data, encoded=encoded)})


def _summary(value: Any) -> dict[str, Any]:
    """A few numbers that say what the collection holds, without the collection."""
    if isinstance(value, dict):
        sizes = [len(v) for v in value.values() if isinstance(v, (list, dict))]
        return {"members": sum(sizes)} if sizes else {}
    return {}


__all__ = [
    "CONTEXT_BUDGET_BYTES",
    "INLINE_LIMIT_BYTES",
    "compact_context",
    "expand",
    "expand_context",
    "expanded",
    "expanded_document",
    "spill",
    "spillable_fields",
    "with_run_id",
]
