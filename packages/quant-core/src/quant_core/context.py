"""Contexts: the JSON documents that flow from stage to stage.

They hold small data inline and large data as `ArtifactRef`s, so that crossing a Ray, Prefect or
DBOS boundary moves kilobytes, never pickled DataFrames. They are frozen: a stage returns a new
context with `model_copy(update=...)` and never changes the one it was given.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from quant_core.artifacts import ArtifactRef
from quant_core.errors import ContextKindError

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

StageParamsMap = dict[str, dict[str, JsonValue]]
"""Parameters per stage id: `{"selection.clustering": {"distance_threshold": 0.4}}`."""


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SpilledCollection(_Document):
    """A collection too large to ride inline in a context (clusters, vetoes, winners, atoms at
    thousands of assets), kept as a JSON artifact with a short summary inline, so that a context
    stays within `quant_core.spill.CONTEXT_BUDGET_BYTES` at any universe size. Stages get the
    collection itself (the executor expands it before `execute`); readers of recorded contexts
    expand it with `quant_core.spill`."""

    kind: Literal["spilled"] = "spilled"
    ref: ArtifactRef
    count: int = Field(ge=0, description="items in the collection (keys of a mapping)")
    summary: dict[str, JsonValue] = Field(default_factory=dict)


class AuditEvent(_Document):
    """Something a stage wants on the record: a dropped column, a veto, a fallback taken.

    Carries no time stamp on purpose: stages never read the clock, and equal inputs must give equal
    audit trails.
    """

    stage_id: str
    level: Literal["info", "warning", "error"] = "info"
    code: str
    message: str
    data: dict[str, JsonValue] = Field(default_factory=dict)
    #: The event's full data when it was too large to keep inline (`data` then keeps its scalars).
    detail: SpilledCollection | None = None


class RunContext(_Document):
    kind: Literal["run"] = "run"
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    profile: str | None = None
    params: dict[str, JsonValue] = Field(default_factory=dict)
    artifacts: dict[str, ArtifactRef] = Field(default_factory=dict)
    audit_trail: list[AuditEvent] = Field(default_factory=list)

    def with_artifacts(self, **refs: ArtifactRef) -> dict[str, ArtifactRef]:
        """The artifacts map with `refs` added (for `model_copy(update={"artifacts": ...})`)."""
        return {**self.artifacts, **refs}

    def with_events(self, *events: AuditEvent) -> list[AuditEvent]:
        return [*self.audit_trail, *events]

    #: Spillable fields whose items name runs derived from this context's run id (see
    #: `without_derived_run_ids`): read back from an artifact, they need that run id.
    RUN_RELATIVE_FIELDS: ClassVar[tuple[str, ...]] = ()

    def cache_view(self) -> dict[str, Any]:
        """The data that determines a stage's output: everything but run ids and the audit trail."""
        return self.model_dump(mode="json", exclude={"run_id", "audit_trail"})

    def without_derived_run_ids(self, field: str, data: Any) -> Any:
        """The JSON `data` of `field` without the run ids this context's run id already says:
        what the cache view holds of it, and what is stored when it is spilled, so that neither
        changes with the run id (`with_derived_run_ids` gives them back)."""
        return data

    def with_derived_run_ids(self, field: str, data: Any) -> Any:
        """The inverse of `without_derived_run_ids`, under this context's run id."""
        return data


class SelectionContext(RunContext):
    kind: Literal["selection"] = "selection"  # type: ignore[assignment]
    raw_pool: ArtifactRef | None = None
    returns: ArtifactRef | None = None
    features: ArtifactRef | None = None
    scores: ArtifactRef | None = None
    # Collections that grow with the universe: inline while small, else a SpilledCollection.
    # Tried left to right, so a spilled collection read back from JSON is a SpilledCollection
    # again, never a plain dict (a `dict[str, JsonValue]` would accept its JSON too).
    clusters: SpilledCollection | dict[str, list[str]] = Field(default_factory=dict, union_mode="left_to_right")
    vetoes: SpilledCollection | dict[str, list[str]] = Field(default_factory=dict, union_mode="left_to_right")
    winners: SpilledCollection | list[str] = Field(default_factory=list, union_mode="left_to_right")
    strategy_atoms: SpilledCollection | list[dict[str, JsonValue]] = Field(default_factory=list, union_mode="left_to_right")
    composition_map: SpilledCollection | dict[str, dict[str, int]] = Field(default_factory=dict, union_mode="left_to_right")
    weights: ArtifactRef | None = None
    allocation: dict[str, JsonValue] = Field(default_factory=dict)
    backtest: dict[str, JsonValue] = Field(default_factory=dict)


class SleeveSpec(_Document):
    """One sleeve of a meta-portfolio: a whole portfolio pipeline run under its own profile."""

    name: str = Field(pattern=NAME_PATTERN)
    profile: str
    stage_params: StageParamsMap = Field(default_factory=dict)
    min_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    max_weight: float = Field(default=1.0, ge=0.0, le=1.0)


def derived_sleeve_run_id(parent_run_id: str, sleeve_name: str) -> str:
    """The run id a meta run gives its sleeve: `<parent>.<sleeve>` (`records.sleeve_run_id`
    checks it is a valid run id)."""
    return f"{parent_run_id}.{sleeve_name}"


class SleeveResult(_Document):
    name: str
    profile: str
    run_id: str
    status: Literal["succeeded", "failed"]
    error: str | None = None
    artifacts: dict[str, ArtifactRef] = Field(default_factory=dict)
    summary: dict[str, JsonValue] = Field(default_factory=dict)


class MetaContext(RunContext):
    kind: Literal["meta"] = "meta"  # type: ignore[assignment]
    meta_profile: str | None = None
    # The sleeves' specs (with every stage's params): inline in a run's start context, where the
    # fan-out reads them; spilled by the stages after it past INLINE_LIMIT_BYTES.
    sleeves: SpilledCollection | list[SleeveSpec] = Field(default_factory=list, union_mode="left_to_right")
    # One result per sleeve (its artifacts and backtest summary): spilled past INLINE_LIMIT_BYTES
    # by the fan-out and the stages after it, without the run ids derived from this one.
    sleeve_results: SpilledCollection | list[SleeveResult] = Field(default_factory=list, union_mode="left_to_right")
    meta_returns: ArtifactRef | None = None
    # One weight per sleeve: spilled past INLINE_LIMIT_BYTES too (at a few hundred sleeves).
    meta_weights: SpilledCollection | dict[str, float] = Field(default_factory=dict, union_mode="left_to_right")
    flattened_weights: ArtifactRef | None = None
    report: SpilledCollection | dict[str, JsonValue] = Field(default_factory=dict, union_mode="left_to_right")

    RUN_RELATIVE_FIELDS: ClassVar[tuple[str, ...]] = ("sleeve_results",)

    def cache_view(self) -> dict[str, Any]:
        view = super().cache_view()
        view["sleeve_results"] = self.without_derived_run_ids("sleeve_results", view["sleeve_results"])
        return view

    def without_derived_run_ids(self, field: str, data: Any) -> Any:
        # A sleeve's run id is provenance, not data (its data is named by artifact hashes), and
        # the fan-out always derives it from the meta run id, which the cache view leaves out: so
        # a run under another id is served from the cache. A run id that is not derived (a
        # context run again under another id, a hand-built one) stays: it is not said elsewhere,
        # and what is spilled must give it back.
        if field != "sleeve_results" or not isinstance(data, list):
            return data
        return [
            {k: v for k, v in result.items() if k != "run_id"}
            if result.get("run_id") == derived_sleeve_run_id(self.run_id, result["name"]) else result
            for result in data
        ]

    def with_derived_run_ids(self, field: str, data: Any) -> Any:
        if field != "sleeve_results" or not isinstance(data, list):
            return data
        return [
            result if "run_id" in result else {**result, "run_id": derived_sleeve_run_id(self.run_id, result["name"])}
            for result in data
        ]


CONTEXT_TYPES: dict[str, type[RunContext]] = {
    "run": RunContext,
    "selection": SelectionContext,
    "meta": MetaContext,
}


def context_from_data(data: dict[str, Any]) -> RunContext:
    """Rebuild a context of the right class from its JSON data (uses the `kind` field)."""
    kind = data.get("kind", "run")
    try:
        context_type = CONTEXT_TYPES[kind]
    except KeyError:
        raise ValueError(
            f"unknown context kind {kind!r}; expected one of {sorted(CONTEXT_TYPES)}"
        ) from None
    return context_type.model_validate(data)


def context_from_json(text: str | bytes) -> RunContext:
    import json

    return context_from_data(json.loads(text))


def coerce_context(context: RunContext, target: type[RunContext], stage_id: str | None = None) -> RunContext:
    """Give `context` as a `target`: a plain RunContext is widened; another kind is a
    `ContextKindError` (a parameter error: the caller chose the wrong context)."""
    if isinstance(context, target):
        return context
    if type(context) is RunContext:
        return target.model_validate(context.model_dump(mode="json") | {"kind": target.model_fields["kind"].default})
    stage = f"stage {stage_id}" if stage_id else "a stage"
    raise ContextKindError(
        f"a {type(context).__name__} cannot be given to a stage that takes a {target.__name__}: "
        f"{stage} was given the {context.kind} context of run {context.run_id}",
        param="context", value=context.run_id, rule="context_kind", stage_id=stage_id,
    )
