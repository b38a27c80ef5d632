"""Pipelines are data: an ordered list of steps that every executor turns into its own calls.

A step is a stage with its own params, an include of another pipeline (expanded in place), or a
fan-out that runs a sub-pipeline once per sleeve of a `MetaContext` and gathers the results.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from quant_core.stage import STAGE_ID_PATTERN


#: Ledger lines of a fan-out step carry `fan_out.<pipeline>` as their stage id.
FAN_OUT_PREFIX = "fan_out."


def is_fan_out_step(step_id: str) -> bool:
    return step_id.startswith(FAN_OUT_PREFIX)


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class StageStep(_Step):
    kind: Literal["stage"] = "stage"
    stage: str = Field(pattern=STAGE_ID_PATTERN)
    params: dict[str, JsonValue] = Field(default_factory=dict)


class IncludeStep(_Step):
    """Run every step of another pipeline here, as if written inline."""

    kind: Literal["include"] = "include"
    pipeline: str


class FanOutStep(_Step):
    """Run `pipeline` once per sleeve of the context, then gather every outcome.

    With `strict` (the default) any failed sleeve stops the run with `SleeveFailureError`, naming
    every failed sleeve, before a later step runs.
    """

    kind: Literal["fan_out"] = "fan_out"
    pipeline: str
    over: Literal["sleeves"] = "sleeves"
    strict: bool = True
    collect: tuple[str, ...] = Field(
        default=(), description="artifact names of each branch's final context to gather ('' = all)"
    )

    @property
    def step_id(self) -> str:
        return f"{FAN_OUT_PREFIX}{self.pipeline}"


Step = Annotated[Union[StageStep, IncludeStep, FanOutStep], Field(discriminator="kind")]
RunnableStep = Union[StageStep, FanOutStep]


class PipelineSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str = Field(pattern=STAGE_ID_PATTERN)
    description: str = ""
    context_kind: Literal["run", "selection", "meta"] = "selection"
    steps: tuple[Step, ...]

    @classmethod
    def of(cls, id: str, *steps: str | dict[str, Any] | _Step, **kwargs: Any) -> PipelineSpec:
        """Shorthand: plain strings are stage steps; `{"include": id}` and `{"fan_out": id}` too."""
        built: list[_Step] = []
        for step in steps:
            if isinstance(step, _Step):
                built.append(step)
            elif isinstance(step, str):
                built.append(StageStep(stage=step))
            elif "include" in step:
                built.append(IncludeStep(pipeline=step["include"]))
            elif "fan_out" in step:
                built.append(FanOutStep(pipeline=step["fan_out"], **{k: v for k, v in step.items() if k != "fan_out"}))
            else:
                built.append(StageStep(**step))
        return cls(id=id, steps=tuple(built), **kwargs)

    def referenced_pipelines(self) -> list[str]:
        return [s.pipeline for s in self.steps if isinstance(s, (IncludeStep, FanOutStep))]
