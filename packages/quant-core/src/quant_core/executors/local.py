"""The local executor: in-process, the default.

Stages run one after another in this process. A fan-out's branches run in this process too, or on
a process pool when `workers > 1`; either way every branch's outcome is collected before the
success gate decides.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from quant_core.context import MetaContext, RunContext
from quant_core.executors import fanout
from quant_core.executors.base import map_each
from quant_core.executors.options import check_workers
from quant_core.executors.stage_runs import stage_run
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
        self.runtime = runtime
        self.workers = check_workers(self.name, workers)
        self.start_method = start_method

    # -- protocol -------------------------------------------------------------------------------

    def run_pipeline(
        self,
        spec: PipelineSpec,
        context: RunContext,
        params: Mapping[str, Mapping[str, Any]],
        *,
        parent_run_id: str | None = None,
        traceparent: str | None = None,
    ) -> RunContext:
        steps = self.runtime.registry.flatten(spec)
        with recorded_run(
            self.runtime, kind="pipeline", target=spec.id, context=context, params=params,
            steps=[s.model_dump(mode="json") for s in steps], executor=self.name,
            parent_run_id=parent_run_id, traceparent=traceparent,
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
        with stage_run(self.runtime, stage_id, context, params, executor=self.name) as record:
            return execute_stage_with_retries(
                self.runtime, record, step=1, stage_id=stage_id, context=context,
                params=params, executor=self.name,
            )

    def _fan_out(self, step: FanOutStep, context: RunContext, record: RunRecord, index: int) -> MetaContext:
        timer = StepTimer()
        branches = fanout.branches(context, self.runtime.store)
        sub_spec = self.runtime.registry.get_pipeline(step.pipeline)
        if self.workers > 1 and len(branches) > 1:
            outcomes = self._run_branches_in_pool(sub_spec, branches, context.run_id)
        else:
            outcomes = [_run_branch(self.runtime, sub_spec, b, context.run_id) for b in branches]
        return fanout.conclude(
            record, step=index, fan_out=step, context=context, outcomes=outcomes,  # type: ignore[arg-type]
            timer=timer, executor=self.name, store=self.runtime.store,
        )

    def _run_branches_in_pool(
        self, sub_spec: PipelineSpec, branches: list[fanout.Branch], parent_run_id: str
    ) -> list[fanout.BranchOutcome]:
        context = multiprocessing.get_context(self.start_method)
        telemetry = self.runtime.telemetry
        traceparent = telemetry.traceparent()  # the parent run's span, for the sleeves' spans
        # The workers hold the read end of a pipe whose write end only this process holds: when
        # this process dies, however it dies, they read end-of-file and exit (and with them the
        # forkserver and the resource tracker, which live only as long as their clients).
        parent_alive, keep_alive = context.Pipe(duplex=False)
        try:
            with ProcessPoolExecutor(
                max_workers=min(self.workers, len(branches)), mp_context=context,
                initializer=exit_with_parent, initargs=(parent_alive,),
            ) as pool:
                futures = [
                    pool.submit(_run_branch, self.runtime, sub_spec, b, parent_run_id, traceparent) for b in branches
                ]
                outcomes = []
                for branch, future in zip(branches, futures):
                    error = future.exception()  # waits; a crashed worker shows up here too
                    outcomes.append(
                        future.result() if error is None else fanout.BranchOutcome(branch=branch, error=fanout.describe_error(error))
                    )
                    # The worker process recorded the sleeve's run; this process counts it.
                    sleeve_record = self.runtime.record(branch.context.run_id)
                    if sleeve_record.exists():
                        telemetry.observe_record(sleeve_record)
        finally:
            parent_alive.close()
            keep_alive.close()
        return outcomes


#: Exit status of a pool worker that stopped because the process that started it is gone.
PARENT_GONE_EXIT_CODE = 70


def exit_with_parent(parent_alive: Connection) -> None:
    """Pool worker initializer: exit as soon as the parent's end of `parent_alive` closes."""

    def watch() -> None:
        while True:
            try:
                parent_alive.recv_bytes()
            except (EOFError, OSError):
                os._exit(PARENT_GONE_EXIT_CODE)

    threading.Thread(target=watch, name="quant-exit-with-parent", daemon=True).start()


def _run_branch(
    runtime: Runtime,
    sub_spec: PipelineSpec,
    branch: fanout.Branch,
    parent_run_id: str,
    traceparent: str | None = None,
) -> fanout.BranchOutcome:
    """One sleeve's whole pipeline, as its own run. Module-level so a process pool can send it."""
    executor = LocalExecutor(runtime)
    try:
        result = executor.run_pipeline(
            sub_spec, branch.context, branch.sleeve.stage_params, parent_run_id=parent_run_id,
            traceparent=traceparent,
        )
    except Exception as exc:  # recorded in the sleeve's result and raised by the gate
        return fanout.BranchOutcome(branch=branch, error=fanout.describe_error(exc))
    return fanout.BranchOutcome(branch=branch, context=result)
