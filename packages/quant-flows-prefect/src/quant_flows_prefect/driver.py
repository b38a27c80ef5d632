"""The body of every generated flow: a pipeline's steps driven inside one Prefect flow run.

The flow (the driver) alone writes run records. Each stage is a Prefect task run whose attempts
run on the flow's task runner (threads, or Ray workers) through `quant_core.remote.run_attempt`;
their JSON outcomes come back and the driver writes them with `record_outcome`/`apply_outcome`.
A fan-out drives each sleeve's sub-pipeline from a thread of its own, so the sleeves' stage tasks
run concurrently in the same flow run; every sleeve's outcome is gathered before the strict gate.

Prefect's cache is keyed by quant's content key. A task Prefect serves from its cache ("Cached")
takes its output from quant's cache entry under the same key, in the driver, whose hit path
rebases the stored output on this run (its run id, its audit trail). A stage quant has no entry
for (never computed here, or the entry was removed) runs with Prefect's entry refreshed, and one
whose two entries disagree runs again: the two caches never give different answers.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prefect.futures import PrefectFuture
from pydantic import JsonValue
from quant_core.context import MetaContext, RunContext
from quant_core.executors import fanout
from quant_core.execution import Runtime, effective_params, prepare_stage, recorded_run
from quant_core.errors import StageFailedError
from quant_core.hashing import sha256_hex
from quant_core.pipeline import FanOutStep, PipelineSpec, RunnableStep, StageStep
from quant_core.records import LedgerEntry, RunRecord, StepTimer
from quant_core.remote import apply_outcome, record_outcome, run_attempt

from quant_flows_prefect.attempts import EXECUTOR_NAME, StageAttemptError, outcomes_of
from quant_flows_prefect.tasks import stage_task

#: The Prefect state name of a task run served from Prefect's cache.
CACHED = "Cached"


@dataclass(frozen=True)
class RunTarget:
    """What one quant run executes: a pipeline, or one stage (`Executor.map`)."""

    kind: str
    target: str
    steps: Sequence[RunnableStep]


@dataclass(frozen=True)
class FlowDriver:
    """Drives quant runs inside the current flow run. `engine` is the flow run's link, written
    into every run's manifest (the sleeves' runs too: their tasks are in this flow run)."""

    runtime: Runtime
    engine: Mapping[str, JsonValue] = field(default_factory=dict)
    #: Whether the flow's task runner sends the attempts to Ray workers.
    on_ray: bool = False

    def run(
        self,
        run: RunTarget,
        context: RunContext,
        stage_params: Mapping[str, Mapping[str, Any]],
        *,
        parent_run_id: str | None = None,
        sleeve: str | None = None,
        traceparent: str | None = None,
    ) -> RunContext:
        """`traceparent`: the span the run's span is a child of (default: the current one)."""
        with recorded_run(
            self.runtime, kind=run.kind, target=run.target, context=context, params=stage_params,
            steps=[s.model_dump(mode="json") for s in run.steps], executor=EXECUTOR_NAME,
            parent_run_id=parent_run_id, traceparent=traceparent, engine=self.engine,
        ) as record:
            # The run's span: the parent of its stages' attempts (on the task runner's threads or
            # Ray workers) and of its sleeves' spans.
            run_span = self.runtime.telemetry.traceparent()
            for index, step in enumerate(run.steps, start=1):
                if isinstance(step, StageStep):
                    params = effective_params(step.params, stage_params.get(step.stage, {}))
                    context = self._stage(record, index, step.stage, context, params, sleeve, run_span)
                else:
                    context = self._fan_out(record, index, step, context, run_span)
            return context

    # -- a stage ---------------------------------------------------------------------------------

    def _stage(
        self,
        record: RunRecord,
        step: int,
        stage_id: str,
        context: RunContext,
        params: dict[str, Any],
        sleeve: str | None,
        traceparent: str | None,
        *,
        refresh_cache: bool = False,
    ) -> RunContext:
        # Bad params or a context of the wrong kind fail here, before any task run, as they do
        # on the local executor.
        prepared = prepare_stage(self.runtime, stage_id, context, params)
        entry = None if self.runtime.force else self.runtime.cache.get(prepared.cache_key, self.runtime.store)
        # A stage whose output quant holds is served, not computed: its task runs here, in the
        # driver, rather than taking a trip to a worker (a Ray round trip costs more than the hit).
        in_driver = entry is not None and not refresh_cache
        task = stage_task(
            self.runtime, prepared.spec, run_id=record.run_id, step=step, params=params,
            cache_key=prepared.cache_key, run_name=stage_id if sleeve is None else f"{stage_id} [{sleeve}]",
            # Without quant's entry (never computed, or removed) Prefect's is not served either.
            refresh_cache=refresh_cache or entry is None, on_ray=self.on_ray and not in_driver,
            traceparent=traceparent,
        )
        document = context.model_dump_json()
        if in_driver:
            state = task(context=document, return_state=True)
        else:
            future: PrefectFuture[dict[str, Any]] = task.submit(context=document)
            future.wait()
            state = future.state
        result = state.result(raise_on_failure=False)
        if state.name == CACHED and entry is not None:
            if outcomes_of(result)[-1].ledger[-1].output_hash != entry.output_hash:
                # Prefect persisted another output under this key than quant's cache holds: run
                # the stage again and let both caches take the new output.
                return self._stage(record, step, stage_id, context, params, sleeve, traceparent, refresh_cache=True)
            # quant's hit path rebases the stored output on this run (its run id, its trail)
            outcomes = [
                run_attempt(
                    self.runtime, run_id=record.run_id, step=step, stage_id=stage_id, context=context,
                    params=params, executor=EXECUTOR_NAME, traceparent=traceparent,
                )
            ]
        elif isinstance(result, StageAttemptError):
            outcomes = result.outcomes()
        elif state.is_completed():
            outcomes = outcomes_of(result)
        elif state.is_failed() and isinstance(result, Exception):
            raise result  # not a stage failure: a bug in quant, raised as it is
        else:  # crashed or cancelled: no outcome came back
            return self._lost(record, step, stage_id, prepared.input_view, prepared.cache_key, state, result)
        for retried in outcomes[:-1]:
            record_outcome(record, retried)
        return apply_outcome(record, outcomes[-1])

    def _lost(
        self,
        record: RunRecord,
        step: int,
        stage_id: str,
        input_view: bytes,
        key: str,
        state: Any,
        error: Any,
    ) -> RunContext:
        """A task run that ended without an outcome (its worker died, it was cancelled): a failed
        attempt in the ledger, and a stage failure that may be retried by resuming the run."""
        message = f"the Prefect task run ended {state.name}: {state.message or error}"
        timer = StepTimer()
        record.append_ledger(
            LedgerEntry(
                run_id=record.run_id, step=step, stage_id=stage_id, status="failed",
                started_at=timer.started_at, duration_s=0.0, input_hash=sha256_hex(input_view),
                cache_key=key, error=message, executor=EXECUTOR_NAME,
            )
        )
        raise StageFailedError(stage_id, record.run_id, message)

    # -- a fan-out over sleeves ------------------------------------------------------------------

    def _fan_out(
        self, record: RunRecord, step: int, fan_out: FanOutStep, context: RunContext, traceparent: str | None
    ) -> MetaContext:
        timer = StepTimer()
        branches = fanout.branches(context, self.runtime.store)
        sub_spec = self.runtime.registry.get_pipeline(fan_out.pipeline)
        sub_run = RunTarget("pipeline", sub_spec.id, self.runtime.registry.flatten(sub_spec))
        # One driver thread per sleeve: it only submits tasks and waits. Each thread gets its
        # own copy of this flow run's context, so its tasks belong to this flow run.
        with ThreadPoolExecutor(max_workers=len(branches), thread_name_prefix="quant-sleeve") as pool:
            futures = [
                pool.submit(
                    contextvars.copy_context().run, self._branch, sub_run, branch, context.run_id, traceparent
                )
                for branch in branches
            ]
            outcomes = [future.result() for future in futures]
        return fanout.conclude(
            record, step=step, fan_out=fan_out, context=context, outcomes=outcomes,  # type: ignore[arg-type]
            timer=timer, executor=EXECUTOR_NAME, store=self.runtime.store,
        )

    def _branch(
        self, sub_run: RunTarget, branch: fanout.Branch, parent_run_id: str, traceparent: str | None
    ) -> fanout.BranchOutcome:
        try:
            result = self.run(
                sub_run, branch.context, branch.sleeve.stage_params,
                parent_run_id=parent_run_id, sleeve=branch.sleeve.name, traceparent=traceparent,
            )
        except Exception as exc:  # recorded in the sleeve's result and raised by the gate
            return fanout.BranchOutcome(branch=branch, error=fanout.describe_error(exc))
        return fanout.BranchOutcome(branch=branch, context=result)


def pipeline_target(runtime: Runtime, spec: PipelineSpec) -> RunTarget:
    return RunTarget("pipeline", spec.id, runtime.registry.flatten(spec))


def stage_target(stage_id: str, params: Mapping[str, Any]) -> RunTarget:
    return RunTarget("stage", stage_id, (StageStep(stage=stage_id, params=dict(params)),))


__all__ = ["FlowDriver", "RunTarget", "pipeline_target", "stage_target"]
