"""Issue point 8: params are coerced from text by the stage's JSON Schema and validated with
jsonschema; errors name the parameter, the value and the rule; unknown names get a did-you-mean."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from pydantic import Field

from quant_core import ParamValidationError, QuantSDK, RunContext, Stage, StageParams
from quant_core.params import ParamsValidator, coerce_params, coerce_value
from quant_core.testing import toy_registry


class Linkage(str, enum.Enum):
    average = "average"
    ward = "ward"


class _Typed(Stage[RunContext]):
    """Echoes its params into the context: a stage with one parameter of each kind."""

    id = "probe.typed"

    class Params(StageParams):
        count: int = Field(default=1, ge=1, le=100)
        threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
        enabled: bool = False
        method: Literal["equal", "hrp", "erc"] = "equal"
        linkage: Linkage = Linkage.average
        fallback: Linkage | None = None
        lookbacks: list[int] = Field(default_factory=lambda: [20])
        symbols: list[str] = Field(default_factory=list)
        label: str = Field(default="x", pattern="^[a-z]+$")
        window: int | None = None

    def execute(self, context: RunContext) -> RunContext:
        return context.model_copy(update={"params": {**context.params, "echo": self.params.model_dump(mode="json")}})


SCHEMA = _Typed.SPEC.input_schema


def _validate(params: dict) -> None:
    ParamsValidator(SCHEMA, owner="probe.typed").validate(params)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("count", "7", 7),
        ("count", " 7 ", 7),
        ("count", "1e2", 100),
        ("threshold", "0.25", 0.25),
        ("threshold", "1e-1", 0.1),
        ("enabled", "true", True),
        ("enabled", "Yes", True),
        ("enabled", "0", False),
        ("enabled", "off", False),
        ("method", "hrp", "hrp"),
        ("linkage", "ward", "ward"),
        ("fallback", "ward", "ward"),
        ("fallback", "null", None),
        ("lookbacks", "20,60, 120", [20, 60, 120]),
        ("lookbacks", "[5, 10]", [5, 10]),
        ("lookbacks", "", []),
        ("symbols", "BINANCE:BTCUSDT,NYSE:IBM", ["BINANCE:BTCUSDT", "NYSE:IBM"]),
        ("label", "abc", "abc"),
        ("window", "30", 30),
        ("window", "none", None),
    ],
)
def test_text_is_coerced_by_the_declared_type(name: str, text: str, expected: object) -> None:
    assert coerce_params(SCHEMA, {name: text}, owner="probe.typed") == {name: expected}


def test_values_that_are_not_text_pass_through() -> None:
    assert coerce_value(3, {"type": "string"}) == 3
    assert coerce_params(SCHEMA, {"lookbacks": [1, 2], "enabled": True}) == {"lookbacks": [1, 2], "enabled": True}


@pytest.mark.parametrize(
    ("name", "text", "expected_type"),
    [
        ("count", "seven", "integer"),
        ("count", "2.5", "integer"),
        ("threshold", "abc", "number"),
        ("threshold", "nan", "number"),
        ("threshold", "inf", "number"),
        ("enabled", "maybe", "boolean"),
        ("lookbacks", "20,x", "array"),
        ("window", "soon", "integer or null"),
    ],
)
def test_text_of_the_wrong_type_names_parameter_value_and_type(name: str, text: str, expected_type: str) -> None:
    with pytest.raises(ParamValidationError) as caught:
        coerce_params(SCHEMA, {name: text}, owner="probe.typed")
    error = caught.value
    assert (error.param, error.value, error.rule, error.stage_id) == (name, text, "type", "probe.typed")
    assert str(error).startswith(f"probe.typed: parameter {name!r}={text!r} is not a valid {expected_type} (")


@pytest.mark.parametrize(
    ("params", "param", "rule", "message"),
    [
        ({"count": 0}, "count", "minimum", "parameter 'count'=0 breaks the rule minimum=1"),
        ({"count": 101}, "count", "maximum", "parameter 'count'=101 breaks the rule maximum=100"),
        ({"threshold": 1.0}, "threshold", "exclusiveMaximum", "parameter 'threshold'=1.0 breaks the rule exclusiveMaximum=1.0"),
        ({"method": "kelly"}, "method", "enum", "parameter 'method'='kelly' breaks the rule enum: one of equal, hrp, erc"),
        ({"linkage": "single"}, "linkage", "enum", "parameter 'linkage'='single' breaks the rule enum: one of average, ward"),
        ({"fallback": "single"}, "fallback", "anyOf", "parameter 'fallback'='single' breaks the rule anyOf: one of average, ward or null"),
        ({"label": "ABC"}, "label", "pattern", "parameter 'label'='ABC' breaks the rule pattern=\"^[a-z]+$\""),
        ({"lookbacks": [5, "x"]}, "lookbacks.1", "type", "parameter 'lookbacks.1'='x' breaks the rule type=integer"),
        ({"count": "3"}, "count", "type", "parameter 'count'='3' breaks the rule type=integer"),
        ({"threshold": float("nan")}, "threshold", "finite", "parameter 'threshold'=nan breaks the rule finite"),
    ],
)
def test_schema_violations_name_parameter_value_and_rule(params: dict, param: str, rule: str, message: str) -> None:
    with pytest.raises(ParamValidationError) as caught:
        _validate(params)
    error = caught.value
    assert (error.param, error.rule) == (param, rule)
    assert str(error).startswith(f"probe.typed: {message}")


def test_a_missing_required_parameter_is_named() -> None:
    schema = toy_registry().get("toy.flaky").input_schema
    with pytest.raises(ParamValidationError) as caught:
        ParamsValidator(schema, owner="toy.flaky").validate({})
    assert (caught.value.param, caught.value.rule) == ("marker", "required")
    assert str(caught.value) == "toy.flaky: parameter 'marker' is required ('marker' is a required property)"


def test_unknown_parameters_are_errors_with_a_did_you_mean() -> None:
    for check in (lambda p: _validate(p), lambda p: coerce_params(SCHEMA, p, owner="probe.typed")):
        with pytest.raises(ParamValidationError) as caught:
            check({"treshold": "0.3"})
        assert (caught.value.param, caught.value.rule) == ("treshold", "unknown")
        assert "unknown parameter 'treshold'" in str(caught.value)
        assert str(caught.value).endswith("did you mean 'threshold'?")


@pytest.fixture
def typed_sdk(make_sdk) -> QuantSDK:
    registry = toy_registry()
    registry.register(_Typed)
    return make_sdk(registry=registry)


def test_text_params_run_a_stage(typed_sdk: QuantSDK) -> None:
    result = typed_sdk.run_stage(
        "probe.typed",
        params={"count": "3", "threshold": "0.75", "enabled": "yes", "lookbacks": "5,10", "linkage": "ward"},
        run_id="typed-1",
    )
    assert result.context.params["echo"] == {
        "count": 3, "threshold": 0.75, "enabled": True, "method": "equal", "linkage": "ward",
        "fallback": None, "lookbacks": [5, 10], "symbols": [], "label": "x", "window": None,
    }


def test_a_bad_param_stops_a_run_before_anything_is_recorded(typed_sdk: QuantSDK) -> None:
    with pytest.raises(ParamValidationError, match="'count'=0 breaks the rule minimum=1"):
        typed_sdk.run_stage("probe.typed", params={"count": "0"}, run_id="typed-2")
    with pytest.raises(ParamValidationError, match="'linkage'='single' breaks the rule enum: one of average, ward"):
        typed_sdk.run_stage("probe.typed", params={"linkage": "single"}, run_id="typed-5")
    with pytest.raises(ParamValidationError, match="'fallback'='single' breaks the rule anyOf: one of average, ward or null"):
        typed_sdk.run_stage("probe.typed", params={"fallback": "single"}, run_id="typed-6")
    with pytest.raises(ParamValidationError, match="'threshold'='nan' is not a valid number"):
        typed_sdk.run_stage("probe.typed", params={"threshold": "nan"}, run_id="typed-3")
    with pytest.raises(ParamValidationError, match="'threshold'=inf breaks the rule finite"):
        typed_sdk.run_stage("probe.typed", params={"threshold": float("inf")}, run_id="typed-4")
    assert not typed_sdk.home.runs_dir.exists()


def test_pipeline_override_forms(sdk: QuantSDK) -> None:
    nested = sdk.plan_pipeline("toy.portfolio", params={"toy.seed": {"n": "4"}})[2]
    dotted = sdk.plan_pipeline("toy.portfolio", params={"toy.seed.n": "4"})[2]
    bare = sdk.plan_pipeline("toy.portfolio", params={"n": "4"})[2]
    assert nested == dotted == bare == {"toy.seed": {"n": 4, "offset": 0.0}}
    with pytest.raises(ParamValidationError, match="no step declares a parameter 'factr'; did you mean 'factor'"):
        sdk.plan_pipeline("toy.portfolio", params={"factr": "2"})
    with pytest.raises(ParamValidationError, match="names stage 'toy.sed', which is not a step of it; did you mean 'toy.seed'"):
        sdk.plan_pipeline("toy.portfolio", params={"toy.sed.n": "2"})
    with pytest.raises(ParamValidationError, match="'n'=0 breaks the rule minimum=1"):
        sdk.plan_pipeline("toy.portfolio", params={"n": 0})
