"""Issue points 3 and 10: the registry (an instance, a lazily loaded default one with a class-level
facade, loud entry points) and pipeline validation at registration."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

import quant_core.entrypoints as entrypoints_module
from quant_core import (
    EntryPointError,
    ExecutorNotFoundError,
    FanOutStep,
    IncludeStep,
    ParamValidationError,
    PipelineNotFoundError,
    PipelineSpec,
    PipelineValidationError,
    RegistryError,
    RunContext,
    Stage,
    StageNotFoundError,
    StageRegistry,
    StageStep,
)
from quant_core.entrypoints import EXECUTORS_GROUP, PIPELINES_GROUP, STAGES_GROUP
from quant_core.executors.local import LocalExecutor
from quant_core.testing import TOY_STAGES, Noop, ScaleNumbers, SeedNumbers, toy_registry


def _fake_entry_points(table: dict[str, list[EntryPoint]], calls: list[str]):
    def entry_points(*, group: str) -> list[EntryPoint]:
        calls.append(group)
        return list(table.get(group, []))

    return entry_points


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default registry unset, so the next class-level call loads it; restored afterwards."""
    monkeypatch.setattr(StageRegistry, "_default", None)


# -- instances ----------------------------------------------------------------------------------


def test_registries_are_independent_instances() -> None:
    first, second = StageRegistry(), StageRegistry()
    first.register(Noop)
    assert "toy.noop" in first
    assert "toy.noop" not in second
    assert second.list_stages() == []


def test_register_accepts_a_class_or_a_spec_and_works_as_a_decorator() -> None:
    registry = StageRegistry()
    assert registry.register(Noop) is Noop
    assert registry.register(SeedNumbers.SPEC) is SeedNumbers.SPEC
    assert registry.get("toy.seed") is SeedNumbers.SPEC

    @registry.register
    class Decorated(Stage[RunContext]):
        id = "probe.decorated"

        def execute(self, context: RunContext) -> RunContext:
            return context

    assert registry.get("probe.decorated").stage_class is Decorated


def test_registering_something_else_is_an_error() -> None:
    with pytest.raises(RegistryError, match="not a Stage subclass with an id"):
        StageRegistry().register(object)


def test_duplicate_id_with_another_class_is_an_error_but_the_same_class_again_is_not() -> None:
    registry = StageRegistry()
    registry.register(Noop)
    registry.register(Noop)  # idempotent

    class OtherNoop(Stage[RunContext]):
        id = "toy.noop"

        def execute(self, context: RunContext) -> RunContext:
            return context

    with pytest.raises(RegistryError) as caught:
        registry.register(OtherNoop)
    assert "'toy.noop' is already registered by quant_core.testing:Noop" in str(caught.value)
    assert registry.get("toy.noop").stage_class is Noop


def test_get_of_an_unknown_id_is_a_key_error_with_suggestions() -> None:
    registry = toy_registry()
    with pytest.raises(KeyError) as caught:
        registry.get("toy.scal")
    error = caught.value
    assert isinstance(error, StageNotFoundError)
    assert error.suggestions[0] == "toy.scale"
    assert str(error).startswith("unknown stage 'toy.scal'; did you mean 'toy.scale'")


def test_list_stages_is_sorted_and_filters_by_tag() -> None:
    registry = toy_registry()
    registry.register(_Untagged)
    ids = [s.id for s in registry.list_stages()]
    assert ids == sorted(ids)
    assert len(ids) == len(TOY_STAGES) + 1
    assert [s.id for s in registry.list_stages(tag="toy")] == sorted(s.id for s in TOY_STAGES)
    assert registry.list_stages(tag="nope") == []


class _Untagged(Stage[RunContext]):
    id = "probe.untagged"

    def execute(self, context: RunContext) -> RunContext:
        return context


# -- the default registry and its class-level facade --------------------------------------------


def test_default_registry_loads_entry_points_on_first_use_only(
    monkeypatch: pytest.MonkeyPatch, fresh_default: None
) -> None:
    calls: list[str] = []
    table = {
        STAGES_GROUP: [
            EntryPoint(name="toy", value="quant_core.testing:TOY_STAGES", group=STAGES_GROUP)
        ],
        PIPELINES_GROUP: [
            EntryPoint(name="portfolio", value="quant_core.testing:TOY_PORTFOLIO", group=PIPELINES_GROUP)
        ],
        EXECUTORS_GROUP: [
            EntryPoint(name="local", value="quant_core.executors.local:LocalExecutor", group=EXECUTORS_GROUP),
            EntryPoint(name="lazy", value="no_such_executor_module:Executor", group=EXECUTORS_GROUP),
        ],
    }
    monkeypatch.setattr(entrypoints_module, "entry_points", _fake_entry_points(table, calls))
    assert calls == []  # nothing is read at import or before first use

    assert StageRegistry.get("toy.seed") is SeedNumbers.SPEC
    assert calls == [STAGES_GROUP, PIPELINES_GROUP]  # executors are read when one is asked for
    default = StageRegistry.default()
    assert default is StageRegistry.default()
    assert calls == [STAGES_GROUP, PIPELINES_GROUP]  # loaded once
    assert default.get_pipeline("toy.portfolio").steps[0] == StageStep(stage="toy.seed")
    # executors are known by name; their module is imported only when asked for
    assert default.executor_names() == ["lazy", "local"]
    assert default.executor_names() == ["lazy", "local"]
    assert calls == [STAGES_GROUP, PIPELINES_GROUP, EXECUTORS_GROUP]  # read once
    assert isinstance(default.executor_factory("local")(runtime=None), LocalExecutor)
    with pytest.raises(EntryPointError) as caught:
        default.executor_factory("lazy")
    assert caught.value.entry_point == "lazy"
    assert "no_such_executor_module" in str(caught.value)


def test_a_broken_stage_entry_point_raises_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, fresh_default: None
) -> None:
    broken = EntryPoint(name="broken_stages", value="no_such_module_qc:Stages", group=STAGES_GROUP)
    monkeypatch.setattr(
        entrypoints_module, "group_entry_points",
        lambda group: [broken] if group == STAGES_GROUP else [],
    )
    with pytest.raises(EntryPointError) as caught:
        StageRegistry.get("toy.seed")
    error = caught.value
    assert (error.group, error.entry_point) == (STAGES_GROUP, "broken_stages")
    assert str(error).startswith(
        "entry point 'broken_stages' (no_such_module_qc:Stages) in group 'quant.stages' is broken: "
        "ModuleNotFoundError"
    )
    assert StageRegistry._default is None  # a failed load is not half-installed


def test_an_entry_point_giving_the_wrong_kind_of_object_is_an_error(
    monkeypatch: pytest.MonkeyPatch, fresh_default: None
) -> None:
    wrong = EntryPoint(name="wrong", value="quant_core.testing:TOY_PORTFOLIO", group=STAGES_GROUP)
    monkeypatch.setattr(
        entrypoints_module, "group_entry_points",
        lambda group: [wrong] if group == STAGES_GROUP else [],
    )
    with pytest.raises(EntryPointError, match="'wrong'.*expected a Stage class or StageSpec"):
        StageRegistry.list_stages()


def test_class_level_calls_reach_the_default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    replacement = StageRegistry()
    monkeypatch.setattr(StageRegistry, "_default", replacement)
    StageRegistry.register(ScaleNumbers.SPEC)
    StageRegistry.register(Noop)
    assert replacement.get("toy.scale") is ScaleNumbers.SPEC
    assert StageRegistry.get("toy.noop") is Noop.SPEC
    assert [s.id for s in StageRegistry.list_stages(tag="toy")] == ["toy.noop", "toy.scale"]
    with pytest.raises(StageNotFoundError):
        StageRegistry.get("toy.sum")
    # an instance still answers for itself
    assert StageRegistry().list_stages() == []


# -- executors ----------------------------------------------------------------------------------


def test_unknown_executor_names_the_package_that_provides_it() -> None:
    with pytest.raises(ExecutorNotFoundError) as caught:
        toy_registry().executor_factory("ray")
    assert str(caught.value) == (
        "unknown executor 'ray' (it is provided by the package 'quant-compute-ray': "
        "pip install quant-compute-ray)"
    )
    with pytest.raises(ExecutorNotFoundError, match="did you mean 'local'"):
        toy_registry().executor_factory("locl")


# -- pipelines ----------------------------------------------------------------------------------


def test_pipeline_steps_are_ordered_with_params_includes_and_fan_out() -> None:
    registry = toy_registry()
    spec = PipelineSpec.of(
        "probe.wrapped",
        {"include": "toy.portfolio"},
        {"stage": "toy.noop", "params": {"index": 4}},
        context_kind="selection",
    )
    registry.register_pipeline(spec)
    flat = registry.flatten("probe.wrapped")
    assert flat == [
        StageStep(stage="toy.seed"), StageStep(stage="toy.scale"), StageStep(stage="toy.sum"),
        StageStep(stage="toy.noop", params={"index": 4}),
    ]
    meta = registry.get_pipeline("toy.meta")
    assert meta.steps == (FanOutStep(pipeline="toy.portfolio"), StageStep(stage="toy.meta_total"))
    assert meta.steps[0].step_id == "fan_out.toy.portfolio"
    assert [p.id for p in registry.list_pipelines()] == ["probe.wrapped", "toy.meta", "toy.portfolio"]


def test_pipeline_with_an_unknown_stage_is_rejected_at_registration() -> None:
    registry = toy_registry()
    with pytest.raises(PipelineValidationError) as caught:
        registry.register_pipeline(PipelineSpec.of("probe.typo", "toy.seed", "toy.scal"))
    assert "step refers to an unknown stage 'toy.scal'; did you mean 'toy.scale'" in str(caught.value)
    with pytest.raises(PipelineNotFoundError):
        registry.get_pipeline("probe.typo")


def test_pipeline_including_an_unregistered_pipeline_is_rejected() -> None:
    with pytest.raises(PipelineValidationError, match="'probe.missing', which is not registered"):
        toy_registry().register_pipeline(PipelineSpec.of("probe.outer", {"include": "probe.missing"}))


@pytest.mark.parametrize(
    "step", [IncludeStep(pipeline="probe.loop"), FanOutStep(pipeline="probe.loop")], ids=["include", "fan_out"]
)
def test_pipeline_cycles_are_rejected(step: IncludeStep | FanOutStep) -> None:
    registry = toy_registry()
    with pytest.raises(PipelineValidationError, match="forms a cycle: probe.loop -> probe.loop"):
        registry.register_pipeline(PipelineSpec.of("probe.loop", "toy.seed", step, context_kind="meta"))


def test_re_registering_a_pipeline_id_with_other_steps_is_an_error() -> None:
    registry = toy_registry()
    registry.register_pipeline(PipelineSpec.of("toy.portfolio", "toy.seed", "toy.scale", "toy.sum"))
    with pytest.raises(RegistryError, match="already registered with other steps"):
        registry.register_pipeline(PipelineSpec.of("toy.portfolio", "toy.seed"))


def test_pipeline_step_params_and_context_kinds_are_checked_at_registration() -> None:
    registry = toy_registry()
    with pytest.raises(ParamValidationError) as caught:
        registry.register_pipeline(
            PipelineSpec.of("probe.bad_params", {"stage": "toy.seed", "params": {"n": 0}})
        )
    assert (caught.value.param, caught.value.value, caught.value.rule) == ("n", 0, "minimum")
    with pytest.raises(PipelineValidationError, match="takes a meta context but the pipeline carries a selection"):
        registry.register_pipeline(PipelineSpec.of("probe.kinds", "toy.meta_total"))
    with pytest.raises(PipelineValidationError, match="fan-out over sleeves needs context_kind='meta'"):
        registry.register_pipeline(PipelineSpec.of("probe.fan", FanOutStep(pipeline="toy.portfolio")))
    with pytest.raises(PipelineValidationError, match="cannot include 'toy.portfolio'"):
        registry.register_pipeline(PipelineSpec.of("probe.mixed", {"include": "toy.portfolio"}, context_kind="meta"))
