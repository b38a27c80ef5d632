"""Every registered stage is idempotent and keeps its output contract, on generated valid inputs.

Driven by the default registry (`StageRegistry.from_entry_points()`), so a new stage is tested
the moment it is registered, and a stage that cannot be given an input fails here, loudly.

How a stage S gets a valid input, generically:
- the input context is the context before S in a registered pipeline that runs S (the one where
  S comes earliest), built by running that pipeline's earlier steps on a small synthetic market
  (every stage of the pipeline that declares `dataset_params` gets the drawn market);
- a stage in no pipeline gets the final context of the longest pipeline of its context kind;
- a pipeline that fans out over sleeves runs under the first meta profile of the catalog;
- S's own params: hypothesis draws those its input schema makes simple (enums, booleans,
  numbers and integers bounded on both sides), the others keep their defaults; combinations
  that the stage's params validation refuses are rejected, not run. A stage may still refuse a
  drawn value for this data (a cluster cap infeasible with this many clusters): that is
  accepted only as a `ParamValidationError` when some drawn param is not at its default, raised
  the same way on both runs; any other failure fails the test.

Then S runs twice (cache bypassed): the two output contexts, their `stage.outputs(...)` JSON and
every artifact hash are identical, the input context is unchanged, and the outputs validate
against the stage's `output_schema` (jsonschema).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, given, reject, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from quant_core import QuantSDK, StageRegistry
from quant_core.context import RunContext
from quant_core.errors import DataValidationError, ParamValidationError, StageFailedError
from quant_core.execution import check_params
from quant_core.pipeline import FanOutStep, PipelineSpec, RunnableStep, StageStep
from quant_core.planning import branch_stage_ids

REGISTRY = StageRegistry.from_entry_points()
STAGE_IDS = [spec.id for spec in REGISTRY.list_stages()]

#: The drawn market: small, and long enough for the default walk-forward windows (504 + 63).
SEEDS = (0, 1)
ASSET_COUNTS = (12, 16)
N_DAYS = 700
DATASET_PARAM = "dataset_params"


# -- where a stage's input comes from ------------------------------------------------------


def step_name(step: RunnableStep) -> str:
    return step.stage if isinstance(step, StageStep) else step.step_id


@dataclass(frozen=True)
class InputPlan:
    """Run `prefix` (steps of registered `pipeline`) to get the input context of a stage."""

    pipeline: PipelineSpec
    prefix: tuple[RunnableStep, ...]
    profile: str | None


def meta_profile(sdk: QuantSDK) -> str:
    for name in sdk.profiles.names(sdk.home):
        profile = sdk.resolve_profile(name)
        if profile.kind == "meta" and profile.sleeves:
            return name
    pytest.fail("a pipeline fans out over sleeves but no installed profile is a meta profile with sleeves")


def input_plan(sdk: QuantSDK, stage_id: str) -> InputPlan:
    spec = REGISTRY.get(stage_id)
    hosts = []
    for pipeline in REGISTRY.list_pipelines():
        steps = REGISTRY.flatten(pipeline)
        for index, step in enumerate(steps):
            if isinstance(step, StageStep) and step.stage == stage_id:
                hosts.append((index, pipeline.id, pipeline, tuple(steps[:index])))
                break
    if hosts:
        _, _, pipeline, prefix = min(hosts, key=lambda host: host[:2])
    else:
        same_kind = [
            p for p in REGISTRY.list_pipelines() if spec.context_kind in ("run", p.context_kind)
        ]
        if not same_kind:
            pytest.fail(
                f"stage {stage_id} ({spec.context_kind} context) is in no registered pipeline and no "
                f"pipeline carries a {spec.context_kind} context: it cannot be given an input. Register "
                f"it in a pipeline (quant.pipelines)."
            )
        pipeline = max(same_kind, key=lambda p: (len(REGISTRY.flatten(p)), p.id))
        prefix = tuple(REGISTRY.flatten(pipeline))
    fans_out = any(isinstance(step, FanOutStep) for step in prefix)
    return InputPlan(pipeline, prefix, meta_profile(sdk) if fans_out else None)


def dataset_overrides(pipeline: PipelineSpec, market: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The drawn market for every stage of `pipeline` (fan-out branches included) that loads data."""
    steps = REGISTRY.flatten(pipeline)
    stage_ids = [s.stage for s in steps if isinstance(s, StageStep)] + branch_stage_ids(REGISTRY, steps)
    return {
        stage_id: {DATASET_PARAM: market}
        for stage_id in dict.fromkeys(stage_ids)
        if DATASET_PARAM in REGISTRY.get(stage_id).input_schema.get("properties", {})
    }


class PrefixContexts:
    """Input contexts by (market, pipeline kind, profile, steps so far), built one step at a time
    so that pipelines sharing their first steps share the work."""

    def __init__(self, sdk: QuantSDK) -> None:
        self.sdk = sdk
        self.contexts: dict[tuple, RunContext] = {}

    def before(self, plan: InputPlan, market: dict[str, int]) -> RunContext:
        overrides = dataset_overrides(plan.pipeline, market)
        key: tuple = (json.dumps(market, sort_keys=True), plan.pipeline.context_kind, plan.profile)
        if key not in self.contexts:
            _, start, _ = self.sdk.plan_pipeline(plan.pipeline.id, stages=[], params=overrides, profile=plan.profile)
            self.contexts[key] = start
        context = self.contexts[key]
        for step in plan.prefix:
            key = (*key, step.model_dump_json())
            if key not in self.contexts:
                self.contexts[key] = self.sdk.run_pipeline(
                    plan.pipeline.id, stages=[step_name(step)], params=overrides, profile=plan.profile, context=context
                ).context
            context = self.contexts[key]
        return context


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> QuantSDK:
    return QuantSDK(home=tmp_path_factory.mktemp("idempotency-home"), registry=REGISTRY)


@pytest.fixture(scope="module")
def prefixes(sdk: QuantSDK) -> PrefixContexts:
    return PrefixContexts(sdk)


# -- params drawn from the input schema ----------------------------------------------------


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _alternatives(node: dict[str, Any], root: dict[str, Any]) -> Iterator[dict[str, Any]]:
    node = _resolve(node, root)
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        for option in options:
            yield from _alternatives(option, root)
    else:
        yield node


def _simple_values(node: dict[str, Any], default: Any = None) -> st.SearchStrategy | None:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "const" in node:
        return st.just(node["const"])
    kind = node.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind not in ("integer", "number"):
        return None
    low, high = node.get("minimum"), node.get("maximum")
    open_low, open_high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if low is None and open_low is None:
        return None
    if high is None and open_high is None:
        # Bounded below only (lengths, costs, counts): vary up to twice the default.
        if not isinstance(default, (int, float)) or isinstance(default, bool):
            return None
        floor = low if low is not None else open_low
        high = max(floor, 2 * default) if default > 0 else floor + 1
    if kind == "integer":
        first = math.ceil(low) if low is not None else math.floor(open_low) + 1
        last = math.floor(high) if high is not None else math.ceil(open_high) - 1
        return st.integers(first, last)
    return st.floats(
        low if low is not None else open_low, high if high is not None else open_high,
        exclude_min=low is None, exclude_max=high is None, allow_nan=False, allow_subnormal=False,
    )


def param_strategies(schema: dict[str, Any]) -> dict[str, st.SearchStrategy]:
    """A strategy per simple parameter: its default or a value its schema allows."""
    strategies = {}
    for name, prop in schema.get("properties", {}).items():
        if name == DATASET_PARAM:
            continue
        options = list(_alternatives(prop, schema))
        values = [o for o in options if o.get("type") != "null"]
        drawn = _simple_values(values[0], prop.get("default")) if len(values) == 1 else None
        if drawn is None:
            continue
        strategies[name] = st.one_of(st.just(prop["default"]), drawn) if "default" in prop else drawn
    return strategies


# -- the test --------------------------------------------------------------------------------


def artifact_hashes(context: RunContext) -> dict[str, str]:
    """Every artifact reference in the context (fields and the artifacts map), by JSON path."""
    found: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if {"sha256", "media_type", "size"} <= value.keys():
                found[path] = value["sha256"]
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(context.model_dump(mode="json"), "")
    return found


def refused_for_this_data(
    sdk: QuantSDK, stage_id: str, context: RunContext, params: dict[str, Any], failure: StageFailedError
) -> None:
    """Accept (and reject the example) a clear, repeatable refusal of a drawn value; else fail.

    Some refusals depend on the data, not only on the value: a weight cap infeasible for the number
    of clusters found, a train window longer than the small market. They must name their rule
    (a parameter or data error) and repeat; anything else fails the test."""
    cause = failure.__cause__
    properties = REGISTRY.get(stage_id).input_schema.get("properties", {})
    drawn = {name for name, value in params.items() if properties.get(name, {}).get("default") != value}
    if not (isinstance(cause, (ParamValidationError, DataValidationError)) and drawn):
        raise failure
    with pytest.raises(StageFailedError) as again:
        sdk.run_stage(stage_id, context=context, params=params, force=True)
    assert again.value.cause == failure.cause, "the same refusal must repeat"
    reject()


def test_every_registered_stage_is_under_test():
    assert STAGE_IDS, "the default registry holds no stage: are the entry points installed?"
    for stage_id in STAGE_IDS:
        assert REGISTRY.get(stage_id).output_schema.get("properties"), f"{stage_id} declares no outputs"


@pytest.mark.parametrize("stage_id", STAGE_IDS)
# No shrinking: an example costs whole stage runs, and the failing one is reported as drawn.
@settings(max_examples=5, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(data=st.data(), seed=st.sampled_from(SEEDS), n_assets=st.sampled_from(ASSET_COUNTS))
def test_stage_is_idempotent_and_keeps_its_output_contract(sdk, prefixes, stage_id, data, seed, n_assets):
    spec = REGISTRY.get(stage_id)
    market = {"seed": seed, "n_assets": n_assets, "n_days": N_DAYS}
    params = data.draw(st.fixed_dictionaries(param_strategies(spec.input_schema)), label="params")
    if DATASET_PARAM in spec.input_schema.get("properties", {}):
        params[DATASET_PARAM] = market
    try:
        check_params(sdk.registry, stage_id, params)
    except ParamValidationError:
        reject()  # a combination the stage refuses up front is not a valid input

    context = prefixes.before(input_plan(sdk, stage_id), market)
    given_context = context.model_dump(mode="json")
    store = sdk.home.artifact_store()

    try:
        first = sdk.run_stage(stage_id, context=context, params=params, force=True).context
    except StageFailedError as failure:
        refused_for_this_data(sdk, stage_id, context, params, failure)
    second = sdk.run_stage(stage_id, context=context, params=params, force=True).context

    assert context.model_dump(mode="json") == given_context, "the input context changed"
    for ref in context.artifacts.values():
        store.get(ref)  # still there, and its bytes still hash to the reference
    assert first.model_dump(mode="json", exclude={"run_id"}) == second.model_dump(mode="json", exclude={"run_id"})
    assert artifact_hashes(first) == artifact_hashes(second)
    for ref in first.artifacts.values():
        store.get(ref)

    stage = spec.stage_class(artifacts=store, **params)
    outputs = stage.outputs(first)
    assert json.dumps(outputs, sort_keys=True) == json.dumps(stage.outputs(second), sort_keys=True)
    errors = sorted(Draft202012Validator(spec.output_schema).iter_errors(outputs), key=lambda e: list(e.path))
    assert not errors, f"{stage_id} outputs break its output_schema: {errors[0].message} at {list(errors[0].path)}"
