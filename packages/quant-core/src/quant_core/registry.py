"""The registry of stages, pipelines and executors.

Always an instance: tests and embedders build their own. A process-wide default one is loaded from
entry points on first use, and the class-level calls `StageRegistry.register/get/list_stages`
reach it (a facade kept for the seed's callers).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

from quant_core.entrypoints import (
    EXECUTORS_GROUP,
    PIPELINES_GROUP,
    STAGES_GROUP,
    group_entry_points,
    iter_loaded,
    load_entry_point,
)
from quant_core.errors import (
    EntryPointError,
    ExecutorNotFoundError,
    PipelineNotFoundError,
    PipelineValidationError,
    RegistryError,
    StageNotFoundError,
)
from quant_core.params import ParamsValidator
from quant_core.pipeline import FanOutStep, IncludeStep, PipelineSpec, RunnableStep, StageStep
from quant_core.stage import Stage, StageSpec


class _hybridmethod:
    """Called on an instance: that registry. Called on the class: the default registry."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj: Any, objtype: type | None = None) -> Callable[..., Any]:
        target = obj if obj is not None else objtype.default()  # type: ignore[union-attr]
        return functools.partial(self.func, target)


def _is_stage(item: Any) -> bool:
    return isinstance(item, StageSpec) or (
        isinstance(item, type) and issubclass(item, Stage) and hasattr(item, "SPEC")
    )


class StageRegistry:
    _default: ClassVar[StageRegistry | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._stages: dict[str, StageSpec] = {}
        self._pipelines: dict[str, PipelineSpec] = {}
        self._executors: dict[str, Callable[..., Any] | EntryPoint] = {}
        self._validators: dict[str, ParamsValidator] = {}
        self._executors["local"] = _local_executor
        #: Whether the `quant.executors` entry points are still to be read (on first use: listing
        #: or running stages in-process never needs them, and each read scans every installed
        #: distribution's metadata).
        self._executor_entry_points_pending = False

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_entry_points(cls) -> StageRegistry:
        """A registry holding every installed stage and pipeline, with executors known by name
        (an executor's module is imported only when it is asked for)."""
        registry = cls()
        for _, item in iter_loaded(STAGES_GROUP, _is_stage, "a Stage class or StageSpec"):
            registry.register(item)
        for _, item in iter_loaded(
            PIPELINES_GROUP, lambda x: isinstance(x, PipelineSpec), "a PipelineSpec"
        ):
            registry.register_pipeline(item)
        registry._executor_entry_points_pending = True
        return registry

    @classmethod
    def default(cls) -> StageRegistry:
        with cls._default_lock:
            if cls._default is None:
                cls._default = cls.from_entry_points()
            return cls._default

    def __reduce__(self):
        # Executor entry points are re-read in the receiving process rather than pickled.
        executors = {k: v for k, v in self._executors.items() if not isinstance(v, EntryPoint)}
        return (_rebuild_registry, (list(self._stages.values()), list(self._pipelines.values()), executors))

    # -- stages ---------------------------------------------------------------------------------

    @_hybridmethod
    def register(self, item: StageSpec | type[Stage]) -> Any:
        """Register a stage (its class or its spec); returns the argument, so it is a decorator."""
        spec = item if isinstance(item, StageSpec) else getattr(item, "SPEC", None)
        if not isinstance(spec, StageSpec):
            raise RegistryError(f"cannot register {item!r}: not a Stage subclass with an id, nor a StageSpec")
        existing = self._stages.get(spec.id)
        if existing is not None and existing.stage_class is not spec.stage_class:
            raise RegistryError(
                f"stage id {spec.id!r} is already registered by {existing.stage_path}; "
                f"cannot register {spec.stage_path} under the same id"
            )
        self._stages[spec.id] = spec
        self._validators.pop(spec.id, None)
        return item

    @_hybridmethod
    def get(self, stage_id: str) -> StageSpec:
        try:
            return self._stages[stage_id]
        except KeyError:
            raise StageNotFoundError(stage_id, self._stages) from None

    @_hybridmethod
    def list_stages(self, tag: str | None = None) -> list[StageSpec]:
        specs = sorted(self._stages.values(), key=lambda s: s.id)
        return [s for s in specs if tag is None or tag in s.tags]

    def __contains__(self, stage_id: str) -> bool:
        return stage_id in self._stages

    def params_validator(self, stage_id: str) -> ParamsValidator:
        validator = self._validators.get(stage_id)
        if validator is None:
            validator = ParamsValidator(self.get(stage_id).input_schema, owner=stage_id)
            self._validators[stage_id] = validator
        return validator

    # -- pipelines ------------------------------------------------------------------------------

    def register_pipeline(self, spec: PipelineSpec) -> PipelineSpec:
        existing = self._pipelines.get(spec.id)
        if existing is not None and existing != spec:
            raise RegistryError(f"pipeline id {spec.id!r} is already registered with other steps")
        self._check_pipeline(spec)
        self._pipelines[spec.id] = spec
        return spec

    def _check_pipeline(self, spec: PipelineSpec) -> None:
        self._check_acyclic(spec)
        for step in spec.steps:
            if isinstance(step, StageStep):
                if step.stage not in self._stages:
                    raise PipelineValidationError(
                        f"pipeline {spec.id!r}: step refers to an {StageNotFoundError(step.stage, self._stages)}"
                    )
                stage = self._stages[step.stage]
                if stage.context_kind not in ("run", spec.context_kind):
                    raise PipelineValidationError(
                        f"pipeline {spec.id!r}: stage {step.stage!r} takes a {stage.context_kind} "
                        f"context but the pipeline carries a {spec.context_kind} context"
                    )
                # No params and none required cannot fail: skip building a validator (listing
                # stages then neither imports jsonschema nor generates the stage's schema).
                if step.params or stage.requires_params:
                    self.params_validator(step.stage).validate(step.params)
            else:
                if step.pipeline not in self._pipelines:
                    raise PipelineValidationError(
                        f"pipeline {spec.id!r}: step refers to pipeline {step.pipeline!r}, which is "
                        f"not registered (register it first)"
                    )
                if isinstance(step, FanOutStep) and spec.context_kind != "meta":
                    raise PipelineValidationError(
                        f"pipeline {spec.id!r}: a fan-out over sleeves needs context_kind='meta'"
                    )
                if isinstance(step, IncludeStep):
                    included = self._pipelines[step.pipeline]
                    if included.context_kind != spec.context_kind:
                        raise PipelineValidationError(
                            f"pipeline {spec.id!r} ({spec.context_kind}) cannot include "
                            f"{included.id!r} ({included.context_kind})"
                        )

    def _check_acyclic(self, spec: PipelineSpec) -> None:
        graph = {pid: p.referenced_pipelines() for pid, p in self._pipelines.items()}
        graph[spec.id] = spec.referenced_pipelines()
        visiting: list[str] = []
        done: set[str] = set()

        def visit(pid: str) -> None:
            if pid in done:
                return
            if pid in visiting:
                cycle = " -> ".join([*visiting[visiting.index(pid):], pid])
                raise PipelineValidationError(f"pipeline {spec.id!r} forms a cycle: {cycle}")
            visiting.append(pid)
            for ref in graph.get(pid, ()):
                visit(ref)
            visiting.pop()
            done.add(pid)

        visit(spec.id)

    def get_pipeline(self, pipeline_id: str) -> PipelineSpec:
        try:
            return self._pipelines[pipeline_id]
        except KeyError:
            raise PipelineNotFoundError(pipeline_id, self._pipelines) from None

    def list_pipelines(self) -> list[PipelineSpec]:
        return [self._pipelines[k] for k in sorted(self._pipelines)]

    def flatten(self, pipeline: str | PipelineSpec) -> list[RunnableStep]:
        """The steps to run, includes expanded in place."""
        spec = self.get_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
        steps: list[RunnableStep] = []
        for step in spec.steps:
            if isinstance(step, IncludeStep):
                steps.extend(self.flatten(step.pipeline))
            else:
                steps.append(step)
        return steps

    # -- executors ------------------------------------------------------------------------------

    def register_executor(self, name: str, factory: Callable[..., Any]) -> None:
        self._executors[name] = factory

    def _known_executors(self) -> dict[str, Callable[..., Any] | EntryPoint]:
        """The executors, with the installed ones known by name (their modules not imported)."""
        if self._executor_entry_points_pending:
            for entry_point in group_entry_points(EXECUTORS_GROUP):
                self._executors.setdefault(entry_point.name, entry_point)
            self._executor_entry_points_pending = False
        return self._executors

    def executor_names(self) -> list[str]:
        return sorted(self._known_executors())

    def executor_factory(self, name: str) -> Callable[..., Any]:
        executors = self._known_executors()
        try:
            found = executors[name]
        except KeyError:
            raise ExecutorNotFoundError(name, executors) from None
        if isinstance(found, EntryPoint):
            factory = load_entry_point(found)
            if not callable(factory):
                raise EntryPointError(found.group, found.name, found.value, "not callable")
            self._executors[name] = factory
            return factory
        return found


def _rebuild_registry(
    stages: Iterable[StageSpec], pipelines: Iterable[PipelineSpec], executors: dict[str, Any]
) -> StageRegistry:
    registry = StageRegistry()
    for spec in stages:
        registry.register(spec)
    for pipeline in pipelines:
        registry._pipelines[pipeline.id] = pipeline
    registry._executors.update(executors)
    registry._executor_entry_points_pending = True  # re-read in the receiving process, on first use
    return registry


def _local_executor(runtime: Any, *, workers: int = 1, start_method: str = "forkserver") -> Any:
    # Imported on use: the executor module depends on this one. The signature is the executor's
    # own, so options are checked against it before anything runs.
    from quant_core.executors.local import LocalExecutor

    return LocalExecutor(runtime, workers=workers, start_method=start_method)
