"""A meta context's sleeve results ride as an artifact past `INLINE_LIMIT_BYTES`, like the other
collections that grow (here: with the number of sleeves), and what is stored does not change with
the meta run id: a sleeve's run id the meta run id says (`<meta run>.<sleeve>`) is left out and
given back on expansion, any other is kept. Real artifact store, no mocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_strategies import meta_contexts, run_ids, sleeve_results
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_core import MetaContext, SleeveResult
from quant_core.artifacts import ArtifactStore
from quant_core.context import SpilledCollection, derived_sleeve_run_id
from quant_core.hashing import canonical_json
from quant_core.spill import INLINE_LIMIT_BYTES, compact_context, expanded, with_run_id

#: Enough sleeves that their results pass INLINE_LIMIT_BYTES whatever hypothesis drew.
FILLER_SLEEVES = 20


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(Path(tmp_path_factory.mktemp("spill-store")))


def many_sleeves(context: MetaContext) -> MetaContext:
    """`context` with its drawn results inline and enough more (run under the ids the fan-out
    gives) to be spilled; its other collections inline (the drawn refs name no stored artifact)."""
    drawn = context.sleeve_results if isinstance(context.sleeve_results, list) else []
    filler = [
        SleeveResult(
            name=f"filler{i:02d}", profile="tiny", run_id=derived_sleeve_run_id(context.run_id, f"filler{i:02d}"),
            status="succeeded", summary={"sharpe": 0.5 + i / 100, "total_return": 0.1},
        )
        for i in range(FILLER_SLEEVES)
    ]
    unstored = {
        name: MetaContext.model_fields[name].get_default(call_default_factory=True)
        for name in ("sleeves", "meta_weights", "report") if isinstance(getattr(context, name), SpilledCollection)
    }
    return context.model_copy(update={"sleeve_results": [*drawn, *filler], **unstored})


def under(context: MetaContext, run_id: str) -> MetaContext:
    """`context` as the fan-out of a meta run `run_id` would gather it: every run id it derived
    from the old meta run id derived from the new one, the others kept."""
    return context.model_copy(
        update={
            "run_id": run_id,
            "sleeve_results": [
                r.model_copy(update={"run_id": derived_sleeve_run_id(run_id, r.name)})
                if r.run_id == derived_sleeve_run_id(context.run_id, r.name) else r
                for r in context.sleeve_results  # type: ignore[union-attr]
            ],
        }
    )


settings_with_store = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings_with_store
@given(meta_contexts())
def test_spilled_results_expand_to_exactly_the_inline_list(store: ArtifactStore, drawn: MetaContext) -> None:
    context = many_sleeves(drawn)
    compact = compact_context(store, context)
    spilled = compact.sleeve_results
    assert isinstance(spilled, SpilledCollection)
    assert spilled.count == len(context.sleeve_results) > FILLER_SLEEVES - 1  # type: ignore[arg-type]
    assert len(canonical_json(compact.model_dump(mode="json")["sleeve_results"])) < INLINE_LIMIT_BYTES
    # what is stored holds no run id the meta run id says, and every other one
    stored = store.get_json(spilled.ref)
    assert stored == context.without_derived_run_ids("sleeve_results", context.model_dump(mode="json")["sleeve_results"])
    # the one accessor gives back exactly the inline list; so does a JSON round trip first
    assert expanded(store, compact) == context
    assert expanded(store, MetaContext.model_validate_json(compact.model_dump_json())) == context


@settings_with_store
@given(meta_contexts(), run_ids)
def test_what_is_spilled_does_not_change_with_the_meta_run_id(store: ArtifactStore, drawn: MetaContext, other: str) -> None:
    context = many_sleeves(drawn)
    again = under(context, other)
    first, second = compact_context(store, context), compact_context(store, again)
    assert first.sleeve_results == second.sleeve_results  # the same artifact
    assert first.cache_view() == second.cache_view()  # so the same cache key after the fan-out
    assert expanded(store, second) == again


@settings_with_store
@given(meta_contexts(), run_ids, st.data())
def test_a_context_run_under_another_id_keeps_its_sleeves_run_ids(
    store: ArtifactStore, drawn: MetaContext, other: str, data: st.DataObject
) -> None:
    # `run_stage(context=...)` of a context from another run: its sleeves ran under that run
    extra = data.draw(st.lists(sleeve_results(drawn.run_id), max_size=2))
    context = many_sleeves(drawn)
    context = context.model_copy(update={"sleeve_results": [*context.sleeve_results, *extra]})  # type: ignore[misc]
    inline_renamed = context.model_copy(update={"run_id": other})
    renamed = with_run_id(store, compact_context(store, context), other)
    assert expanded(store, renamed) == inline_renamed
    assert expanded(store, compact_context(store, renamed)) == inline_renamed
