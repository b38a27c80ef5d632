"""Stages: the unit of work. A `Stage` subclass declares its id, version, `Params` and `Outputs`,
and its `SPEC` (a `StageSpec`) is derived from those declarations, schemas included.
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from quant_core.artifacts import ArtifactStore
from quant_core.context import RunContext, SpilledCollection
from quant_core.errors import ParamValidationError, RegistryError

STAGE_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
_STAGE_ID_RE = re.compile(STAGE_ID_PATTERN)
#: A stage's namespace may not be this: `quant://pipeline/...` names pipelines.
PIPELINE_NAMESPACE = "pipeline"
#: A constructor keyword of every stage, so no parameter may use the name.
RESERVED_PARAM_NAMES = frozenset({"artifacts"})

ContextT = TypeVar("ContextT", bound=RunContext)


class StageParams(BaseModel):
    """Base of every stage's `Params`: unknown parameters are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StageOutputs(BaseModel):
    """Base of every stage's `Outputs`: the context fields (or artifact names) a stage produces."""

    model_config = ConfigDict(extra="forbid")


class StageSpec(BaseModel):
    """What the registry knows about a stage; JSON-describable except for `stage_class`.

    `input_schema` and `output_schema` are the JSON Schemas of the class's `Params` and `Outputs`,
    generated on first use: loading the catalogue (`quant stage list`) does not pay for thirteen
    schema generations it never shows."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str = Field(pattern=STAGE_ID_PATTERN)
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    version: str = "1"
    stage_class: type = Field(exclude=True)
    context_kind: str = "run"
    retries: int = Field(default=0, ge=0)
    retry_delay_s: float = Field(default=1.0, ge=0.0)

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def input_schema(self) -> dict[str, Any]:
        return self.stage_class.Params.model_json_schema()

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def output_schema(self) -> dict[str, Any]:
        return self.stage_class.Outputs.model_json_schema()

    @property
    def param_names(self) -> list[str]:
        """The parameters' names, sorted (without generating the schema)."""
        return sorted(self.stage_class.Params.model_fields)

    @property
    def requires_params(self) -> bool:
        """Whether a parameter has no default (the schema's `required`)."""
        return any(field.is_required() for field in self.stage_class.Params.model_fields.values())

    @property
    def stage_path(self) -> str:
        return f"{self.stage_class.__module__}:{self.stage_class.__qualname__}"

    @property
    def namespace(self) -> str:
        return self.id.split(".", 1)[0]

    def describe(self) -> dict[str, Any]:
        """The public JSON description (`quant stage schema ID`)."""
        return self.model_dump(mode="json") | {"stage_class": self.stage_path}


def build_spec(stage_class: type[Stage]) -> StageSpec:
    """Derive a `StageSpec` from a stage class's declarations."""
    stage_id = stage_class.id
    if not _STAGE_ID_RE.match(stage_id):
        raise RegistryError(
            f"stage id {stage_id!r} of {stage_class.__qualname__} must look like "
            f"'namespace.name' (lowercase letters, digits, underscores)"
        )
    if stage_id.split(".", 1)[0] == PIPELINE_NAMESPACE:
        raise RegistryError(f"stage id {stage_id!r}: the namespace 'pipeline' is reserved")
    clash = RESERVED_PARAM_NAMES & set(stage_class.Params.model_fields)
    if clash:
        raise RegistryError(f"stage {stage_id!r}: parameter name(s) {sorted(clash)} are reserved")
    return StageSpec(
        id=stage_id,
        name=stage_class.name or stage_id.split(".", 1)[1].replace("_", " "),
        description=inspect.cleandoc(stage_class.__doc__ or ""),
        tags=tuple(stage_class.tags),
        version=str(stage_class.version),
        stage_class=stage_class,
        context_kind=stage_class.context_type.model_fields["kind"].default,
        retries=stage_class.retries,
        retry_delay_s=stage_class.retry_delay_s,
    )


def param_error_from_pydantic(exc: ValidationError, stage_id: str) -> ParamValidationError:
    """Turn pydantic's report into one message naming each parameter, value and rule."""
    problems = []
    first = exc.errors()[0]
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "<params>"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown parameter {name!r}")
        else:
            problems.append(f"parameter {name!r}={err.get('input')!r}: {err['msg']}")
    return ParamValidationError(
        f"stage {stage_id}: " + "; ".join(problems),
        param=".".join(str(part) for part in first["loc"]) or None,
        value=first.get("input"),
        rule=first["type"],
        stage_id=stage_id,
    )


class Stage(ABC, Generic[ContextT]):
    """Base class of every stage.

    Subclasses set `id` (and usually `version`, `tags`, `Params`, `Outputs`, `context_type`) and
    implement `execute`. A stage reads only its context, its params and the artifact store; it
    never reads the clock, the environment or global settings, and never mutates its input.
    """

    SPEC: ClassVar[StageSpec]
    id: ClassVar[str]
    name: ClassVar[str | None] = None
    version: ClassVar[str] = "1"
    tags: ClassVar[tuple[str, ...]] = ()
    retries: ClassVar[int] = 0
    retry_delay_s: ClassVar[float] = 1.0
    context_type: ClassVar[type[RunContext]] = RunContext
    Params: ClassVar[type[StageParams]] = StageParams
    Outputs: ClassVar[type[StageOutputs]] = StageOutputs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "id" in cls.__dict__:
            cls.SPEC = build_spec(cls)

    def __init__(self, *, artifacts: ArtifactStore | None = None, **params: Any) -> None:
        try:
            self.params = self.Params.model_validate(params)
        except ValidationError as exc:
            raise param_error_from_pydantic(exc, self.SPEC.id) from None
        self._artifacts = artifacts

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            raise RuntimeError(
                f"stage {self.SPEC.id} has no artifact store: build it with "
                f"{type(self).__name__}(artifacts=ArtifactStore(root), ...)"
            )
        return self._artifacts

    def cache_inputs(self) -> dict[str, str]:
        """Extra material for the cache key, for inputs that are neither params nor context.

        A stage that reads a file names it here with its content hash, so editing the file
        invalidates the cached output even though the path (the param) did not change."""
        return {}

    @abstractmethod
    def execute(self, context: ContextT) -> ContextT:
        """Return a new context holding this stage's outputs."""

    def outputs(self, context: ContextT) -> dict[str, Any]:
        """This stage's outputs as JSON data: each `Outputs` field read from the context (or,
        when the context has no such field, from its artifacts); a spilled collection is read
        back from the artifact store."""
        from quant_core.spill import expand

        data: dict[str, Any] = {}
        for field in self.Outputs.model_fields:
            if field in type(context).model_fields:
                value = getattr(context, field)
                if isinstance(value, SpilledCollection):
                    value = expand(self.artifacts, value)
            else:
                value = context.artifacts.get(field)
            data[field] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        return self.Outputs.model_validate(data).model_dump(mode="json")
