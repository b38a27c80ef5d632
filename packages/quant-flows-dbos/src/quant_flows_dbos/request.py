"""A run as a DBOS workflow's input: JSON that says everything the workflow needs to run it
again in another process after a crash (the stages themselves come from that process's
registry)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter

from quant_core.context import RunContext
from quant_core.pipeline import RunnableStep

_STEPS = TypeAdapter(list[RunnableStep])

#: Settings of how a run executes, not of what it computes: a second start of the same run may
#: differ in them (and goes on with those its workflow started with).
_EXECUTION_SETTINGS = frozenset({"force", "sleeve_concurrency", "store", "traceparent"})


class RunRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["pipeline", "stage"]
    target: str
    #: The runnable steps (includes expanded), as recorded in the run's manifest.
    steps: list[dict[str, JsonValue]]
    context: dict[str, JsonValue]
    params: dict[str, dict[str, JsonValue]] = Field(default_factory=dict)
    parent_run_id: str | None = None
    #: The QuantHome the run's record (and by default its artifacts and cache) live in.
    home: str
    #: Where the run's artifacts and cache live (`StoreLocation.to_json()`), handed over by the
    #: driver: a process that runs or recovers the workflow uses it, never its own settings.
    store: dict[str, JsonValue] | None = None
    force: bool = False
    #: How many sleeves of a fan-out run at once (the sleeve queue's concurrency).
    sleeve_concurrency: int = Field(default=1, ge=1)
    #: The span the run's span is a child of (W3C traceparent): the caller's for a run, the parent
    #: run's for a sleeve; None when tracing is off. Checkpointed with the input, so a recovered
    #: or resumed workflow's spans join the trace it started in.
    traceparent: str | None = None

    @classmethod
    def build(
        cls,
        kind: Literal["pipeline", "stage"],
        target: str,
        steps: list[RunnableStep],
        context: RunContext,
        params: dict[str, dict[str, JsonValue]],
        **settings: object,
    ) -> RunRequest:
        return cls(
            kind=kind, target=target, steps=[s.model_dump(mode="json") for s in steps],
            context=context.model_dump(mode="json"), params=params, **settings,
        )

    @property
    def run_id(self) -> str:
        return str(self.context["run_id"])

    def runnable_steps(self) -> list[RunnableStep]:
        return _STEPS.validate_python(self.steps)

    def same_run(self, other: RunRequest) -> bool:
        """Whether `other` asks for the same run (execution settings aside)."""
        return self.model_dump(exclude=_EXECUTION_SETTINGS) == other.model_dump(exclude=_EXECUTION_SETTINGS)
