"""Turning a user's request (pipeline, profile, overrides) into what an executor runs:
a pipeline spec, a start context and the params of every stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quant_core.context import CONTEXT_TYPES, MetaContext, RunContext, SleeveSpec, SpilledCollection, StageParamsMap
from quant_core.errors import ParamValidationError, close_matches
from quant_core.params import coerce_params
from quant_core.pipeline import FanOutStep, PipelineSpec, RunnableStep, StageStep
from quant_core.registry import StageRegistry


def stage_ids(registry: StageRegistry, steps: Sequence[RunnableStep]) -> list[str]:
    ids: list[str] = []
    for step in steps:
        if isinstance(step, StageStep) and step.stage not in ids:
            ids.append(step.stage)
    return ids


def branch_stage_ids(registry: StageRegistry, steps: Sequence[RunnableStep]) -> list[str]:
    """Stage ids run inside the fan-outs of `steps` (one level of branches, their includes expanded)."""
    ids: list[str] = []
    for step in steps:
        if isinstance(step, FanOutStep):
            for stage_id in stage_ids(registry, registry.flatten(step.pipeline)):
                if stage_id not in ids:
                    ids.append(stage_id)
    return ids


def resolve_overrides(
    registry: StageRegistry, targets: Sequence[str], overrides: Mapping[str, Any], owner: str
) -> StageParamsMap:
    """Split user overrides into per-stage params, coerced by each stage's schema.

    Accepted forms: `{"stage.id": {"name": v}}`, `{"stage.id.name": v}`, and a bare `{"name": v}`
    that applies to every target stage declaring `name` (an error if none does)."""
    resolved: StageParamsMap = {}

    def put(stage_id: str, name: str, value: Any) -> None:
        schema = registry.get(stage_id).input_schema
        resolved.setdefault(stage_id, {}).update(coerce_params(schema, {name: value}, owner=stage_id))

    for key, value in overrides.items():
        if key in targets and isinstance(value, Mapping):
            for name, item in value.items():
                put(key, name, item)
            continue
        prefix, _, name = key.rpartition(".")
        if prefix:
            if prefix not in targets:
                hint = close_matches(prefix, targets)
                raise ParamValidationError(
                    f"{owner}: parameter {key!r} names stage {prefix!r}, which is not a step of it"
                    + (f"; did you mean {hint[0]!r}?" if hint else f" (steps: {', '.join(targets)})"),
                    param=key, value=value, rule="unknown",
                )
            put(prefix, name, value)
            continue
        declaring = [s for s in targets if key in registry.get(s).input_schema.get("properties", {})]
        if not declaring:
            known = sorted({p for s in targets for p in registry.get(s).input_schema.get("properties", {})})
            hint = close_matches(key, known)
            raise ParamValidationError(
                f"{owner}: no step declares a parameter {key!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else ""),
                param=key, value=value, rule="unknown",
            )
        for stage_id in declaring:
            put(stage_id, key, value)
    return resolved


def merge_params(*layers: Mapping[str, Mapping[str, Any]], only: Sequence[str] | None = None) -> StageParamsMap:
    merged: StageParamsMap = {}
    for layer in layers:
        for stage_id, params in layer.items():
            if only is not None and stage_id not in only:
                continue
            merged.setdefault(stage_id, {}).update(params)
    return merged


def select_steps(spec: PipelineSpec, steps: list[RunnableStep], wanted: Sequence[str] | None) -> PipelineSpec:
    """The pipeline restricted to `wanted` step ids (stage ids or `fan_out.<pipeline>`), in order."""
    if wanted is None:
        return spec.model_copy(update={"steps": tuple(steps)})
    names = [s.stage if isinstance(s, StageStep) else s.step_id for s in steps]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise ParamValidationError(
            f"pipeline {spec.id}: {unknown[0]!r} is not one of its steps ({', '.join(names)})",
            param="stages", value=unknown[0], rule="unknown",
        )
    kept = tuple(s for s, n in zip(steps, names) if n in wanted)
    return spec.model_copy(update={"steps": kept})


def start_context(
    kind: str, run_id: str, profile: str | None, sleeves: list[SleeveSpec] | None = None
) -> RunContext:
    context_type = CONTEXT_TYPES[kind]
    if context_type is MetaContext:
        return MetaContext(run_id=run_id, profile=profile, meta_profile=profile, sleeves=sleeves or [])
    return context_type(run_id=run_id, profile=profile)


def sleeve_count(context: MetaContext) -> int:
    """How many sleeves a meta context lists, inline or spilled (without reading them back)."""
    sleeves = context.sleeves
    return sleeves.count if isinstance(sleeves, SpilledCollection) else len(sleeves)
