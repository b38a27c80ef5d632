"""The local executor: in-process, the default.

Stages run one after another in this process. A fan-out's branches run in this process too, or on
a process pool when `workers > 1`; either way every branch's outcome is collected before the
success gate decides.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from quant_core.context import MetaContext, RunContext
from quant_core.errors import ParamValidationError
from quant_core.executors import fanout
from quant_core.executors.mapping import map_each
from quant_core.execution import (
    Runtime,
    effective_params,
    execute_stage_with_retries,
    recorded_run,
)
from quant_core.pipeline import FanOutStep, PipelineSpec, StageStep
from quant_core.records import RunRecord, StepTimer


class LocalExecutor:
    name = "local"

    def __init__(self, runtime: Runtime, *, workers: int = 1, start_method: str = "forkserver") -> None:
        if workers < 1:
            raise ParamValidationError(
                f"executor local: workers={workers} must be at least 1", param="workers", value=workers, rule="minimum"
            )
        self.runtime = runtime
        self.workers = workers
        self.start_method = start_method

    # -- protocol -------------------------------------------------------------------------------

    def run_pipeline(
        self,
        spec: PipelineSpec,
        context: RunContext,
        params: Mapping[str, Mapping[str, Any]],
        *,
        parent_run_id: str | None = None,
    ) -> RunContext:
        steps = self.runtime.registry.flatten(spec)
        with recorded_run(
            self.runtime, kind="pipeline", target=spec.id, context=context, params=params,
            steps=[s.model_dump(mode="json") for s in steps], executor=self.name,
            parent_run_id=parent_run_id,
        ) as record:
            for index, step in enumerate(steps, start=1):
                if isinstance(step, StageStep):
                    context = execute_stage_with_retries(
                        self.runtime, record, step=index, stage_id=step.stage, context=context,
                        params=effective_params(step.params, params.get(step.stage, {})),
                        executor=self.name,
                    )
                else:
                    context = self._fan_out(step, context, record, index)
            return context

    def map(
        self, stage_id: str, contexts: Sequence[RunContext], params: Mapping[str, Any]
    ) -> list[RunContext]:
        return map_each(stage_id, contexts, lambda context: self._run_single_stage(stage_id, context, params))

    # -- internals ------------------------------------------------------------------------------

    def _run_single_stage(self, stage_id: str, context: RunContext, params: Mapping[str, Any]) -> RunContext:
        step = StageStep(stage=stage_id, params=dict(params))
        with recorded_run(
            self.runtime, kind="stage", target=stage_id, context=context, params={stage_id: dict(params)},
            steps=[step.model_dump(mode="json")], executor=self.name,
        ) as record:
            return execute_stage_with_retries(
                self.runtime, record, step=1, stage_id=stage_id, context=context,
                params=params, executor=self.name,
            )

    def _fan_out(self, step: FanOutStep, context: RunContext, record: RunRecord, index: int) -> MetaContext:
        timer = StepTimer()
        branches = fanout.branches(context)
        sub_spec = self.runtime.registry.get_pipeline(step.pipeline)
        if self.workers > 1 and len(branches) > 1:
            outcomes = self._run_branches_in_pool(sub_spec, branches, context.run_id)
        else:
            outcomes = [_run_branch(self.runtime, sub_spec, b, context.run_id) for b in branches]
        return fanout.conclude(
            record, step=index, fan_out=step, context=context, outcomes=outcomes,  # type: ignore[arg-type]
            timer=timer, executor=self.name,
        )

    def _run_branches_in_pool(
        self, sub_spec: PipelineSpec, branches: list[fanout.Branch], parent_run_id: str
    ) -> list[fanout.BranchOutcome]:
        context = multiprocessing.get_context(self.start_method)
        with ProcessPoolExecutor(max_workers=min(self.workers, len(branches)), mp_context=context) as pool:
            futures = [pool.submit(_run_branch, self.runtime, sub_spec, b, parent_run_id) for b in branches]
            outcomes = []
            for branch, future in zip(branches, futures):
                error = future.exception()  # waits; a crashed worker shows up here too
                outcomes.append(
                    future.result() if error is None else fanout.BranchOutcome(branch=branch, error=fanout.describe_error(error))
                )
        return outcomes


def _run_branch(
    runtime: Runtime, sub_spec: PipelineSpec, branch: fanout.Branch, parent_run_id: str
) -> fanout.BranchOutcome:
    """One sleeve's whole pipeline, as its own run. Module-level so a process pool can send it."""
    executor = LocalExecutor(runtime)
    try:
        result = executor.run_pipeline(
            sub_spec, branch.context, branch.sleeve.stage_params, parent_run_id=parent_run_id
        )
    except Exception as exc:  # recorded in the sleeve's result and raised by the gate
        return fanout.BranchOutcome(branch=branch, error=fanout.describe_error(exc))
    return fanout.BranchOutcome(branch=branch, context=result)
