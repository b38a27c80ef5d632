"""A stage run with nothing to start from runs the steps its stage needs first.

`quant stage run selection.clustering --profile demo_equities` has no returns matrix to cluster
unless ingestion, features and inference ran before it. Those are the steps before the stage in
the registered pipeline that holds it (`selection.full`), so the run is that pipeline's steps up to
and including the stage, with the profile's parameters: each earlier step is served from the cache
when it ran before on the same inputs (a `quant demo` or `pipeline run` leaves them there).

The run is one record whose target is the stage and whose ledger holds the upstream steps too, so
`quant runs resume` and `--from-run` work on it like on any run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quant_core.pipeline import RunnableStep, StageStep
from quant_core.registry import StageRegistry
from quant_core.sdk import PipelinePlan, QuantSDK


@dataclass(frozen=True)
class Upstream:
    """The steps that run before `stage` in `pipeline` (stage ids, or `fan_out.<pipeline>`)."""

    pipeline: str
    stage: str
    steps: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"{self.stage} needs the steps before it in pipeline {self.pipeline}: "
            f"{' → '.join(self.steps)} (each served from the cache when it ran before)"
        )

    def document(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "steps": list(self.steps)}


def step_name(step: RunnableStep) -> str:
    return step.stage if isinstance(step, StageStep) else step.step_id


def upstream_of(registry: StageRegistry, stage_id: str) -> Upstream | None:
    """The steps before `stage_id` in the pipeline that holds it with the fewest steps before it
    (then the fewest steps in all, then by id); None when it is the first step of such a pipeline
    or in no pipeline at all (it then runs on an empty context, as a stage that loads its own
    data does)."""
    candidates = []
    for pipeline in registry.list_pipelines():
        names = [step_name(s) for s in registry.flatten(pipeline)]
        if stage_id in names:
            position = names.index(stage_id)
            candidates.append((position, len(names), pipeline.id, tuple(names[:position])))
    if not candidates:
        return None
    _, _, pipeline_id, before = min(candidates)
    return Upstream(pipeline_id, stage_id, before) if before else None


def plan_with_upstream(
    sdk: QuantSDK,
    upstream: Upstream,
    *,
    params: Mapping[str, Any],
    run_id: str,
    profile: str | None,
) -> PipelinePlan:
    """The plan of `upstream.pipeline` cut after the stage, the given params applying to the
    stage alone; its target is the stage, what the user asked to run."""
    plan = sdk.plan_pipeline(
        upstream.pipeline,
        stages=[*upstream.steps, upstream.stage],
        params={upstream.stage: dict(params)} if params else {},
        run_id=run_id,
        profile=profile,
    )
    return plan._replace(spec=plan.spec.model_copy(update={"id": upstream.stage}))
