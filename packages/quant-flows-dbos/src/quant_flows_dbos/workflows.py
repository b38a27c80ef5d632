"""The DBOS workflow every quant run is: one workflow per run, one DBOS step per stage attempt.

`quant_run(request)` runs a `RunRequest` (a pipeline's steps, or one stage) under the workflow id
DBOS was given, the quant run id. It opens the run's record like every executor
(`recorded_run`), then for each step:

- a stage: each attempt is one DBOS step running `quant_core.remote.run_attempt` in this process;
  DBOS checkpoints its small JSON outcome (see `checkpoints`) and the workflow records it with
  `apply_outcome`. Retries follow the stage's `retries` with the shared backoff, slept with
  `DBOS.sleep` (durable: a resumed run does not sleep again). A replayed attempt, one DBOS
  answers from its checkpoint after a crash, adds nothing to the record it already has;
- a fan-out: each sleeve is a child workflow (workflow id = the sleeve's run id) on the run's own
  DBOS queue, whose concurrency is the run's `sleeve_concurrency`; every child's outcome is
  gathered, the fan-out's ledger line and context recorded, then the strict gate decides.

DBOS replays the workflow function from the top after a crash: everything here that is not a
step must give the same calls in the same order, which is why the fan-out's start time is a step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dbos import DBOS, SetWorkflowID, WorkflowSerializationFormat
from quant_core.context import MetaContext, RunContext, context_from_data
from quant_core.errors import QuantError, StageFailedError
from quant_core.execution import Runtime, effective_params, recorded_run, retry_delay
from quant_core.executors import fanout
from quant_core.hashing import content_hash
from quant_core.pipeline import FanOutStep, StageStep
from quant_core.records import LedgerEntry, RunRecord, utc_now_iso
from quant_core.remote import AttemptOutcome, apply_outcome, run_attempt

from quant_flows_dbos.checkpoints import checkpoint, recorder, restore
from quant_flows_dbos.engine import current_engine
from quant_flows_dbos.errors import WorkflowFailure, from_workflow
from quant_flows_dbos.request import RunRequest

EXECUTOR = "dbos"
WORKFLOW_NAME = "quant.run"
#: How often the sleeve queue looks for work: sleeves take seconds to hours, so this is latency
#: at the start of each, not load.
SLEEVE_QUEUE_POLL_S = 0.25


def sleeve_queue_name(run_id: str) -> str:
    """Each fan-out has its own queue, so `--workers` is the run's, whoever else shares DBOS."""
    return f"quant.sleeves.{run_id}"


def step_name(index: int, step_id: str, part: str) -> str:
    """A DBOS step's name: `quant:<step>:<stage or fan-out id>:<attempt or part>`."""
    return f"quant:{index}:{step_id}:{part}"


def attempted_stage(name: str) -> str | None:
    """`<step>:<stage id>` when `name` is a stage attempt's step name, else None."""
    parts = name.split(":")
    if len(parts) == 4 and parts[0] == "quant" and parts[3].isdigit():
        return f"{parts[1]}:{parts[2]}"
    return None


@DBOS.workflow(name=WORKFLOW_NAME, serialization_type=WorkflowSerializationFormat.PORTABLE)
def quant_run(request: dict[str, Any]) -> dict[str, Any]:
    run = RunRequest.model_validate(request)
    engine = current_engine()
    with engine.drain.running(str(DBOS.workflow_id)):
        try:
            output = WorkflowRun(engine.runtime_for(run.home, run.force, run.store), run, engine.describe()).run()
        except QuantError as error:
            raise WorkflowFailure(error) from error
    return output.model_dump(mode="json")


class WorkflowRun:
    """One execution (or replay) of a run's workflow."""

    def __init__(self, runtime: Runtime, request: RunRequest, engine: dict[str, Any]) -> None:
        self.runtime = runtime
        self.request = request
        self.drain = current_engine().drain
        self.engine = {**engine, "workflow_id": DBOS.workflow_id}
        #: The run's span once it is open: the parent of its attempts' and its sleeves' spans.
        self.run_span: str | None = None

    def run(self) -> RunContext:
        request = self.request
        context = context_from_data(request.context)
        with recorded_run(
            self.runtime, kind=request.kind, target=request.target, context=context, params=request.params,
            steps=request.steps, executor=EXECUTOR, parent_run_id=request.parent_run_id,
            traceparent=request.traceparent, engine=self.engine,
        ) as record:
            self.run_span = self.runtime.telemetry.traceparent()
            for index, step in enumerate(request.runnable_steps(), start=1):
                if isinstance(step, StageStep):
                    context = self._stage(record, index, step, context)
                else:
                    context = self._fan_out(record, index, step, context)
            return context

    # -- stages ---------------------------------------------------------------------------------

    def _stage(self, record: RunRecord, index: int, step: StageStep, context: RunContext) -> RunContext:
        params = effective_params(step.params, self.request.params.get(step.stage, {}))
        spec = self.runtime.registry.get(step.stage)
        given = context.model_dump(mode="json")
        attempts = spec.retries + 1
        for attempt in range(1, attempts + 1):
            outcome, replayed = self._attempt(index, step.stage, given, params, attempt)
            try:
                return apply_outcome(recorder(record, replayed), outcome)
            except StageFailedError as failure:
                if attempt == attempts or not failure.retryable:
                    raise
            delay = retry_delay(spec.retry_delay_s, attempt)
            if delay > 0:
                with self.drain.waiting():
                    DBOS.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, index: int, stage_id: str, given: dict[str, Any], params: dict[str, Any], attempt: int
    ) -> tuple[AttemptOutcome, bool]:
        """One attempt as one DBOS step; True when DBOS replayed it from its checkpoint."""
        ran: list[bool] = []
        identity = current_engine().identity

        def attempt_step() -> dict[str, Any]:
            ran.append(True)
            outcome = run_attempt(
                self.runtime, run_id=self.request.run_id, step=index, stage_id=stage_id, context=given,
                params=params, attempt=attempt, executor=EXECUTOR, node=identity.host, worker=str(identity.pid),
                traceparent=self.run_span,
            )
            return checkpoint(outcome, given, self.runtime.store)

        self.drain.boundary()
        saved = DBOS.run_step({"name": step_name(index, stage_id, str(attempt))}, attempt_step)
        return restore(saved, given, self.runtime.store, self.runtime.record(self.request.run_id)), not ran

    # -- fan-out --------------------------------------------------------------------------------

    def _fan_out(self, record: RunRecord, index: int, step: FanOutStep, context: RunContext) -> MetaContext:
        self.drain.boundary()
        started_at = DBOS.run_step({"name": step_name(index, step.step_id, "start")}, utc_now_iso)
        branches = fanout.branches(context, self.runtime.store)
        outcomes = self._run_sleeves(step, branches)
        gathered = fanout.gather(context, step, outcomes)  # type: ignore[arg-type]
        recorded = fanout.compacted(self.runtime.store, gathered)
        failed = fanout.failed_sleeves(gathered)
        ran: list[bool] = []

        def gather_step() -> dict[str, Any]:
            ran.append(True)
            finished = datetime.fromisoformat(utc_now_iso())
            return LedgerEntry(
                run_id=record.run_id, step=index, stage_id=step.step_id, status="failed" if failed else "succeeded",
                started_at=started_at, duration_s=(finished - datetime.fromisoformat(started_at)).total_seconds(),
                input_hash=content_hash(context.cache_view()), output_hash=content_hash(recorded.cache_view()),
                error=f"failed sleeves: {', '.join(failed)}" if failed else None, executor=EXECUTOR,
            ).model_dump(mode="json")

        entry = LedgerEntry.model_validate(DBOS.run_step({"name": step_name(index, step.step_id, "gather")}, gather_step))
        target = recorder(record, replayed=not ran)
        target.write_context(record.context_name(index, step.step_id), recorded)
        target.append_ledger(entry)
        fanout.gate(gathered, step)
        return recorded

    def _run_sleeves(self, step: FanOutStep, branches: list[fanout.Branch]) -> list[fanout.BranchOutcome]:
        """Every sleeve as a child workflow on the run's queue; every outcome, failures included."""
        registry = self.runtime.registry
        sub_spec = registry.get_pipeline(step.pipeline)
        sub_steps = registry.flatten(sub_spec)
        queue = DBOS.register_queue(
            sleeve_queue_name(self.request.run_id), global_concurrency=self.request.sleeve_concurrency,
            polling_interval_sec=SLEEVE_QUEUE_POLL_S, on_conflict="always_update",
        )
        handles = []
        for branch in branches:
            child = RunRequest.build(
                "pipeline", sub_spec.id, sub_steps, branch.context, dict(branch.sleeve.stage_params),
                parent_run_id=self.request.run_id, home=self.request.home, store=self.request.store,
                force=self.request.force, sleeve_concurrency=self.request.sleeve_concurrency,
                traceparent=self.run_span,
            )
            with SetWorkflowID(branch.context.run_id):
                handles.append(queue.enqueue(quant_run, child.model_dump(mode="json")))
        outcomes = []
        with self.drain.waiting():
            for branch, handle in zip(branches, handles):
                try:
                    outcomes.append(fanout.BranchOutcome(branch=branch, context=context_from_data(handle.get_result())))
                except Exception as error:  # the sleeve failed: recorded in its result, raised by the gate
                    outcomes.append(fanout.BranchOutcome(branch=branch, error=fanout.describe_error(from_workflow(error))))
        # Every sleeve is finished: the queue's work is done (a replay registers it again).
        DBOS.delete_queue(queue.name)
        return outcomes
