"""Hypothesis strategies for quant-core's documents.

Importable as `core_strategies` (a name no other package's tests use): conftest puts this folder on
sys.path.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from quant_core import (
    ArtifactRef,
    AuditEvent,
    MetaContext,
    RunContext,
    SelectionContext,
    SleeveResult,
    SleeveSpec,
)
from quant_core.artifacts import artifact_uri
from quant_core.context import SpilledCollection, derived_sleeve_run_id

#: Text without surrogates (not encodable as UTF-8, so never in a JSON document).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")
run_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,40}\Z")

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(
    allow_nan=False, allow_infinity=False
) | text
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=4)


@st.composite
def artifact_refs(draw: st.DrawFn) -> ArtifactRef:
    digest = draw(st.binary(min_size=32, max_size=32)).hex()
    return ArtifactRef(
        sha256=digest, size=draw(st.integers(0, 2**40)),
        media_type=draw(st.sampled_from(["application/json", "application/vnd.apache.parquet"])),
        uri=artifact_uri(digest),
    )


@st.composite
def spilled(draw: st.DrawFn) -> SpilledCollection:
    return SpilledCollection(ref=draw(artifact_refs()), count=draw(st.integers(0, 10**6)), summary=draw(json_objects))


def or_spilled(inline: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A spillable field's value: the collection inline, or kept as an artifact."""
    return inline | spilled()


audit_events = st.builds(
    AuditEvent, stage_id=names, level=st.sampled_from(["info", "warning", "error"]), code=text,
    message=text, data=json_objects,
)


def _base(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "run_id": draw(run_ids),
        "profile": draw(st.none() | names),
        "params": draw(json_objects),
        "artifacts": draw(st.dictionaries(text, artifact_refs(), max_size=3)),
        "audit_trail": draw(st.lists(audit_events, max_size=3)),
    }


@st.composite
def run_contexts(draw: st.DrawFn) -> RunContext:
    return RunContext(**_base(draw))


@st.composite
def selection_contexts(draw: st.DrawFn) -> SelectionContext:
    maybe_ref = st.none() | artifact_refs()
    symbols = st.lists(names, max_size=4)
    return SelectionContext(
        **_base(draw),
        raw_pool=draw(maybe_ref), returns=draw(maybe_ref), features=draw(maybe_ref),
        scores=draw(maybe_ref), weights=draw(maybe_ref),
        clusters=draw(or_spilled(st.dictionaries(names, symbols, max_size=3))),
        vetoes=draw(or_spilled(st.dictionaries(names, st.lists(text, max_size=2), max_size=3))),
        winners=draw(or_spilled(symbols)),
        strategy_atoms=draw(or_spilled(st.lists(json_objects, max_size=2))),
        composition_map=draw(or_spilled(st.dictionaries(names, st.dictionaries(names, st.sampled_from([-1, 1]), max_size=3), max_size=2))),
        allocation=draw(json_objects),
        backtest=draw(json_objects),
    )


@st.composite
def sleeve_results(draw: st.DrawFn, meta_run_id: str) -> SleeveResult:
    """A sleeve's result in the meta run `meta_run_id`: its run id mostly the one the fan-out
    gives (`<meta run>.<sleeve>`), sometimes another (a context run again under another id)."""
    name = draw(names)
    run_id = draw(st.sampled_from([derived_sleeve_run_id(meta_run_id, name)]) | run_ids)
    return SleeveResult(
        name=name, profile=draw(names), run_id=run_id,
        status=draw(st.sampled_from(["succeeded", "failed"])), error=draw(st.none() | text),
        artifacts=draw(st.dictionaries(text, artifact_refs(), max_size=2)), summary=draw(json_objects),
    )


@st.composite
def meta_contexts(draw: st.DrawFn) -> MetaContext:
    weight = st.floats(0.0, 1.0)
    sleeves = draw(
        or_spilled(st.lists(
            st.builds(
                SleeveSpec, name=names, profile=names,
                stage_params=st.dictionaries(names, json_objects, max_size=2),
                min_weight=weight, max_weight=weight,
            ),
            max_size=3,
        ))
    )
    base = _base(draw)
    return MetaContext(
        **base,
        meta_profile=draw(st.none() | names), sleeves=sleeves,
        sleeve_results=draw(or_spilled(st.lists(sleeve_results(base["run_id"]), max_size=3))),
        meta_returns=draw(st.none() | artifact_refs()),
        meta_weights=draw(or_spilled(st.dictionaries(names, st.floats(allow_nan=False, allow_infinity=False), max_size=3))),
        flattened_weights=draw(st.none() | artifact_refs()),
        report=draw(or_spilled(json_objects)),
    )


any_context = st.one_of(run_contexts(), selection_contexts(), meta_contexts())
