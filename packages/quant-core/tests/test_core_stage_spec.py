"""Issue point 2: a stage's `Params` gives its input schema, `Outputs` its output schema, and its
`version` is part of the cache key."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import Field

from quant_core import (
    ParamValidationError,
    QuantSDK,
    RegistryError,
    RunContext,
    Stage,
    StageOutputs,
    StageParams,
    StageSpec,
)
from quant_core.testing import Noop, ScaleNumbers, toy_registry


def test_params_model_gives_the_input_schema() -> None:
    spec = ScaleNumbers.SPEC
    assert spec.id == "toy.scale"
    assert spec.input_schema == ScaleNumbers.Params.model_json_schema()
    properties = spec.input_schema["properties"]
    assert properties["factor"] == {"default": 2.0, "title": "Factor", "type": "number"}
    assert properties["fail"]["type"] == "boolean"
    assert properties["mode"]["pattern"] == "^(linear|square)$"
    assert spec.input_schema["additionalProperties"] is False


def test_outputs_model_gives_the_output_schema() -> None:
    spec = ScaleNumbers.SPEC
    assert spec.output_schema == ScaleNumbers.Outputs.model_json_schema()
    assert list(spec.output_schema["properties"]) == ["scaled"]
    assert spec.output_schema["required"] == ["scaled"]


def test_spec_is_derived_from_the_class_declarations() -> None:
    spec = Noop.SPEC
    assert (spec.name, spec.version, spec.tags, spec.context_kind, spec.retries) == (
        "noop", "1", ("toy",), "run", 0
    )
    assert spec.description == "Does nothing but return a copy: measures executor overhead."
    assert spec.stage_path == "quant_core.testing:Noop"
    assert spec.namespace == "toy"
    described = spec.describe()
    assert described["stage_class"] == "quant_core.testing:Noop"
    assert described["input_schema"]["properties"]["index"]["type"] == "integer"


def test_schemas_are_generated_on_first_use_and_names_come_without_them() -> None:
    class Lazy(Stage[RunContext]):
        id = "probe.lazy"

        class Params(StageParams):
            needed: int
            optional: float = 1.0

        def execute(self, context: RunContext) -> RunContext:
            return context

    registry = toy_registry()
    registry.register(Lazy)
    spec = registry.get("probe.lazy")
    assert "input_schema" not in spec.__dict__ and "output_schema" not in spec.__dict__  # not generated yet
    assert (spec.param_names, spec.requires_params) == (["needed", "optional"], True)
    assert "input_schema" not in spec.__dict__
    assert spec.input_schema["required"] == ["needed"]  # generated now, then kept
    assert spec.input_schema is spec.input_schema
    assert (Noop.SPEC.param_names, Noop.SPEC.requires_params) == (["index"], False)


def test_stage_is_built_with_validated_params() -> None:
    assert ScaleNumbers(factor=3).params.factor == 3.0
    with pytest.raises(ParamValidationError) as caught:
        ScaleNumbers(factr=3)
    assert caught.value.param == "factr"
    assert "unknown parameter 'factr'" in str(caught.value)
    with pytest.raises(ParamValidationError) as caught:
        ScaleNumbers(mode="cubic")
    assert (caught.value.param, caught.value.value) == ("mode", "cubic")


def test_bad_stage_ids_and_reserved_names_are_rejected_when_the_class_is_defined() -> None:
    with pytest.raises(RegistryError, match="must look like 'namespace.name'"):

        class NoNamespace(Stage[RunContext]):
            id = "flat"

            def execute(self, context: RunContext) -> RunContext:
                return context

    with pytest.raises(RegistryError, match="namespace 'pipeline' is reserved"):

        class InPipelineNamespace(Stage[RunContext]):
            id = "pipeline.thing"

            def execute(self, context: RunContext) -> RunContext:
                return context

    with pytest.raises(RegistryError, match="reserved"):

        class ReservedParam(Stage[RunContext]):
            id = "probe.reserved"

            class Params(StageParams):
                artifacts: int = 0

            def execute(self, context: RunContext) -> RunContext:
                return context


class _Tally(Stage[RunContext]):
    """Adds `step` to `params.total`, version 1."""

    id = "probe.tally"
    version = "1"

    class Params(StageParams):
        step: int = Field(default=1, ge=0)

    class Outputs(StageOutputs):
        params: dict

    def execute(self, context: RunContext) -> RunContext:
        total = int(context.params.get("total", 0)) + self.params.step
        return context.model_copy(update={"params": {**context.params, "total": total}})


class _TallyV2(_Tally):
    """Same id, new logic: counts twice. Its version is bumped, so old cache entries must not serve it."""

    id = "probe.tally"
    version = "2"

    def execute(self, context: RunContext) -> RunContext:
        total = int(context.params.get("total", 0)) + 2 * self.params.step
        return context.model_copy(update={"params": {**context.params, "total": total}})


def test_version_is_part_of_the_cache_key(make_sdk: Callable[..., QuantSDK]) -> None:
    registry_v1 = toy_registry()
    registry_v1.register(_Tally)
    registry_v2 = toy_registry()
    registry_v2.register(_TallyV2)
    assert isinstance(registry_v2.get("probe.tally"), StageSpec)

    first = make_sdk(registry=registry_v1).run_stage("probe.tally", params={"step": 3}, run_id="v1-a")
    again = make_sdk(registry=registry_v1).run_stage("probe.tally", params={"step": 3}, run_id="v1-b")
    bumped = make_sdk(registry=registry_v2).run_stage("probe.tally", params={"step": 3}, run_id="v2-a")

    # the executor records the params each stage ran with under its id
    assert first.context.params == {"total": 3, "probe.tally": {"step": 3}}
    assert [e.cache_hit for e in again.ledger] == [True]
    assert again.context.params == first.context.params
    assert [e.cache_hit for e in bumped.ledger] == [False]
    assert bumped.context.params == {"total": 6, "probe.tally": {"step": 3}}
    assert first.ledger[0].cache_key == again.ledger[0].cache_key != bumped.ledger[0].cache_key
