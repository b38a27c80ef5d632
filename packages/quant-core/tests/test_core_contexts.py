"""Issue point 4: contexts are JSON documents only, and a JSON round trip loses nothing."""

from __future__ import annotations

import json

import pytest
from core_strategies import any_context, meta_contexts
from hypothesis import given, settings
from pydantic import ValidationError

from quant_core import (
    MetaContext,
    RunContext,
    SelectionContext,
    SleeveResult,
    context_from_data,
    context_from_json,
)
from quant_core.context import coerce_context, derived_sleeve_run_id


@settings(max_examples=100, deadline=None)
@given(any_context)
def test_json_round_trip_is_lossless(context: RunContext) -> None:
    text = context.model_dump_json()
    again = type(context).model_validate_json(text)
    assert again == context
    assert again.model_dump_json() == text
    # the `kind` field alone picks the class back
    rebuilt = context_from_json(text)
    assert type(rebuilt) is type(context)
    assert rebuilt == context


@settings(max_examples=30, deadline=None)
@given(any_context)
def test_contexts_are_plain_json(context: RunContext) -> None:
    data = context.model_dump(mode="json")
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert context_from_data(data) == context


@settings(max_examples=30, deadline=None)
@given(meta_contexts())
def test_meta_cache_view_leaves_out_every_run_id_the_meta_run_id_says(context: MetaContext) -> None:
    view = context.cache_view()
    assert "run_id" not in view and "audit_trail" not in view
    if isinstance(context.sleeve_results, list):
        derived = [r.run_id == derived_sleeve_run_id(context.run_id, r.name) for r in context.sleeve_results]
        assert ["run_id" not in result for result in view["sleeve_results"]] == derived
    # Another meta run id, whose sleeves ran under the ids it derives: the same view.
    renamed = context.model_copy(
        update={
            "run_id": "other",
            "sleeve_results": context.sleeve_results if not isinstance(context.sleeve_results, list) else [
                r.model_copy(update={"run_id": derived_sleeve_run_id("other", r.name)})
                if r.run_id == derived_sleeve_run_id(context.run_id, r.name) else r
                for r in context.sleeve_results
            ],
        }
    )
    assert renamed.cache_view() == view


def test_a_sleeve_run_id_the_meta_run_id_does_not_say_is_data() -> None:
    # A context run again under another id keeps the run ids its sleeves ran under: they are
    # not said by the new run id, so they stay in the view (and in what is spilled).
    result = SleeveResult(name="a", profile="p", run_id="first.a", status="succeeded")
    first = MetaContext(run_id="first", sleeve_results=[result])
    again = first.model_copy(update={"run_id": "again"})
    assert "run_id" not in first.cache_view()["sleeve_results"][0]
    assert again.cache_view()["sleeve_results"][0]["run_id"] == "first.a"


def test_contexts_are_frozen_and_reject_unknown_fields() -> None:
    context = SelectionContext(run_id="r1")
    with pytest.raises(ValidationError):
        context.winners = ["A"]  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        RunContext(run_id="r1", surprise=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="pattern"):
        RunContext(run_id="bad id")


def test_context_from_data_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown context kind 'portfolio'; expected one of"):
        context_from_data({"kind": "portfolio", "run_id": "r1"})


def test_coerce_context_widens_a_plain_run_context_only() -> None:
    plain = RunContext(run_id="r1", params={"a": 1})
    widened = coerce_context(plain, SelectionContext)
    assert type(widened) is SelectionContext
    assert (widened.run_id, widened.params) == ("r1", {"a": 1})
    selection = SelectionContext(run_id="r2")
    assert coerce_context(selection, RunContext) is selection
    with pytest.raises(TypeError, match="a SelectionContext cannot be given to a stage that takes a MetaContext"):
        coerce_context(selection, MetaContext)


def test_sleeve_result_status_is_checked() -> None:
    with pytest.raises(ValidationError):
        SleeveResult(name="a", profile="p", run_id="r", status="maybe")  # type: ignore[arg-type]
