"""`RayComputeEngine`: the executor protocol on Ray.

- `map_stages` (the protocol's `map`): one `execute_stage_remote` task per context, all in flight
  at once, each context its own run;
- `run_pipeline`: every step outside a fan-out is a task; a fan-out over sleeves runs each sleeve
  in its own `SleeveActor` (`execute_sleeves_parallel`), gathers every outcome, then the strict gate;
- the driver alone writes run records: workers send back each attempt's ledger line and context
  snapshot as JSON (`quant_core.remote`), data stays in the artifact store named by the driver.

Used per call (a local Ray is started for the call and stopped after it, unless one is reachable)
or as a context manager that keeps one Ray for many runs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import ray
from quant_core.context import MetaContext, RunContext
from quant_core.errors import ParamValidationError, QuantError
from quant_core.execution import Runtime, effective_params, recorded_run
from quant_core.executors import fanout
from quant_core.executors.stage_runs import MapFailure, raise_map_failures, stage_run
from quant_core.pipeline import FanOutStep, PipelineSpec, StageStep
from quant_core.records import RunRecord, StepTimer

from quant_compute_ray.actors import SleeveActor, SleeveResources
from quant_compute_ray.attempts import ActorPlacement, Placement, StageCall, TaskPlacement, run_stage_calls
from quant_compute_ray.connection import RayConnection, connect, disconnect
from quant_compute_ray.session import RunSession, sigterm_interrupts
from quant_compute_ray.worker import EXECUTOR_NAME, RuntimeHandle

#: How often the main thread looks up from waiting on sleeves (it is woken at once when one ends).
SLEEVE_POLL_S = 1.0


class RayComputeEngine:
    """Runs quant pipelines and stages on Ray: joined by `address` (else `RAY_ADDRESS`), the Ray
    this process already holds, or a local instance of `num_cpus` CPUs started for the run.

    `runtime` names the QuantHome and the registry (default: `QuantSDK()`'s); it is put in Ray's
    object store once per run and handed to every task and actor explicitly."""

    name = EXECUTOR_NAME

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        *,
        runtime: Runtime | None = None,
        sleeve_resources: SleeveResources | None = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.sleeve_resources = sleeve_resources or SleeveResources()
        self._runtime = runtime
        self._held: RayConnection | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from quant_core.sdk import QuantSDK

            self._runtime = QuantSDK().runtime()
        return self._runtime

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> RayComputeEngine:
        if self._held is not None:
            raise RuntimeError("this RayComputeEngine is already in use as a context manager")
        self._held = connect(self.address, num_cpus=self.num_cpus)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        held, self._held = self._held, None
        if held is not None:
            disconnect(held)

    @property
    def connection(self) -> RayConnection | None:
        """The Ray held by a `with` block (None outside one)."""
        return self._held

    @contextlib.contextmanager
    def _session(self) -> Iterator[RunSession]:
        connection = self._held or connect(self.address, num_cpus=self.num_cpus)
        try:
            session = RunSession(RuntimeHandle(ray.put(self.runtime)), self.runtime.store, connection.describe())
            with sigterm_interrupts():
                try:
                    yield session
                except KeyboardInterrupt as signalled:
                    raise session.interrupt(signalled) from None
        finally:
            if self._held is None:
                disconnect(connection)

    # -- the executor protocol --------------------------------------------------------------------

    def run_pipeline(
        self,
        spec: PipelineSpec,
        context: RunContext,
        params: Mapping[str, Mapping[str, Any]],
        *,
        parent_run_id: str | None = None,
        traceparent: str | None = None,
    ) -> RunContext:
        """`traceparent`: the span the run's span is a child of (default: the current one)."""
        with self._session() as session:
            return self._pipeline(
                session, spec, context, params, TaskPlacement(session), parent_run_id, traceparent
            )

    def map_stages(
        self, stage_id: str, contexts: Sequence[RunContext], params: Mapping[str, Any]
    ) -> list[RunContext]:
        """One Ray task per context (all in flight at once), each context its own run; raises
        after every run finished, naming each failed one."""
        params = dict(params)
        self.runtime.registry.get(stage_id)  # an unknown stage is the caller's error, before any run opens
        with self._session() as session:
            runs: list[_OpenRun] = []
            failures: list[tuple[str, MapFailure]] = []

            def opened() -> Iterator[StageCall]:
                for context in contexts:
                    run = _OpenRun(
                        stage_run(self.runtime, stage_id, context, params, executor=self.name, engine=session.engine),
                        context.run_id,
                    )
                    try:
                        record = run.enter()
                    except ParamValidationError as refused:  # e.g. a run id already used otherwise
                        failures.append((context.run_id, refused))
                        continue
                    runs.append(run)
                    yield StageCall(record, 1, stage_id, context, params, run.traceparent(self.runtime))

            try:
                results = run_stage_calls(session, self.runtime.registry, opened(), TaskPlacement(session))
            except BaseException as stopped:
                for run in runs:
                    run.exit(stopped)
                raise
            outputs = []
            for run, result in zip(runs, results):
                if isinstance(result, QuantError):
                    run.exit(result)
                    failures.append((run.run_id, result))
                else:
                    run.exit(None)
                    outputs.append(result)
        raise_map_failures(stage_id, contexts, failures)
        return outputs

    map = map_stages

    def execute_sleeves_parallel(
        self,
        sleeves: Sequence[fanout.Branch],
        pipeline: str | PipelineSpec,
        *,
        parent_run_id: str | None = None,
        traceparent: str | None = None,
    ) -> list[fanout.BranchOutcome]:
        """Run `pipeline` once per sleeve, each in its own `SleeveActor`, all at once (as many as
        the cluster's CPUs allow); every sleeve's outcome, failures included. Each sleeve's span
        is a child of `traceparent` (default: the current span)."""
        spec = self.runtime.registry.get_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
        traceparent = traceparent or self.runtime.telemetry.traceparent()
        with self._session() as session:
            return self._sleeves(session, spec, sleeves, parent_run_id, traceparent)

    # -- internals --------------------------------------------------------------------------------

    def _pipeline(
        self,
        session: RunSession,
        spec: PipelineSpec,
        context: RunContext,
        params: Mapping[str, Mapping[str, Any]],
        placement: Placement,
        parent_run_id: str | None = None,
        traceparent: str | None = None,
    ) -> RunContext:
        registry = self.runtime.registry
        steps = registry.flatten(spec)
        with recorded_run(
            self.runtime, kind="pipeline", target=spec.id, context=context, params=params,
            steps=[s.model_dump(mode="json") for s in steps], executor=self.name,
            parent_run_id=parent_run_id, traceparent=traceparent, engine=session.engine,
        ) as record:
            # The run's span, taken on this thread (a sleeve's runs on a thread of its own): the
            # parent of every attempt's span on the workers and of the sleeves' spans.
            run_span = self.runtime.telemetry.traceparent()
            for index, step in enumerate(steps, start=1):
                if isinstance(step, StageStep):
                    call = StageCall(
                        record, index, step.stage, context, effective_params(step.params, params.get(step.stage, {})),
                        run_span,
                    )
                    (result,) = run_stage_calls(session, registry, [call], placement)
                    if isinstance(result, QuantError):
                        raise result
                    context = result
                else:
                    context = self._fan_out(session, step, context, record, index, run_span)
            return context

    def _fan_out(
        self,
        session: RunSession,
        step: FanOutStep,
        context: RunContext,
        record: RunRecord,
        index: int,
        traceparent: str | None,
    ) -> MetaContext:
        timer = StepTimer()
        branches = fanout.branches(context, self.runtime.store)
        sub_spec = self.runtime.registry.get_pipeline(step.pipeline)
        outcomes = self._sleeves(session, sub_spec, branches, context.run_id, traceparent)
        return fanout.conclude(
            record, step=index, fan_out=step, context=context, outcomes=outcomes,  # type: ignore[arg-type]
            timer=timer, executor=self.name, store=self.runtime.store,
        )

    def _sleeves(
        self,
        session: RunSession,
        spec: PipelineSpec,
        branches: Sequence[fanout.Branch],
        parent_run_id: str | None,
        traceparent: str | None,
    ) -> list[fanout.BranchOutcome]:
        # One driver thread per sleeve, each driving its sleeve's actor attempt by attempt; the
        # main thread waits for them all (an interrupt kills the actors, which ends the threads).
        self.sleeve_resources.check_fits(ray.cluster_resources())
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(len(branches), 1), thread_name_prefix="quant-sleeve"
        ) as pool:
            futures = [
                pool.submit(self._sleeve, session, spec, branch, parent_run_id, traceparent) for branch in branches
            ]
            with session.interruptible():
                while not all(future.done() for future in futures):
                    concurrent.futures.wait(futures, timeout=SLEEVE_POLL_S)
        return [future.result() for future in futures]

    def _sleeve(
        self,
        session: RunSession,
        spec: PipelineSpec,
        branch: fanout.Branch,
        parent_run_id: str | None,
        traceparent: str | None,
    ) -> fanout.BranchOutcome:
        """One sleeve's whole pipeline as its own run, in its own actor (a sleeve thread). Its
        run's span is opened here, as a child of the parent run's (`traceparent`: a thread of a
        pool does not inherit the parent's current span)."""
        actor = SleeveActor.options(**self.sleeve_resources.actor_options()).remote(session.runtime)
        session.started_actor(actor)
        try:
            placement = ActorPlacement(actor, actor.identity.remote())
            result = self._pipeline(
                session, spec, branch.context, branch.sleeve.stage_params, placement, parent_run_id, traceparent
            )
        except Exception as exc:  # recorded in the sleeve's result and raised by the gate
            return fanout.BranchOutcome(branch=branch, error=fanout.describe_error(exc))
        finally:
            session.finished_actor(actor)
        return fanout.BranchOutcome(branch=branch, context=result)


class _OpenRun:
    """One run of `map_stages`, opened now and closed after every run's attempts came back. Each
    is entered in a context of its own: its span stays current there only, so the runs opened one
    after another are siblings, not each other's children, and close in any order."""

    def __init__(self, run: contextlib.AbstractContextManager[RunRecord], run_id: str) -> None:
        self._run = run
        self._context = contextvars.copy_context()
        self.run_id = run_id

    def enter(self) -> RunRecord:
        return self._context.run(self._run.__enter__)

    def traceparent(self, runtime: Runtime) -> str | None:
        return self._context.run(runtime.telemetry.traceparent)

    def exit(self, error: BaseException | None) -> None:
        if error is None:
            self._context.run(self._run.__exit__, None, None, None)
        else:
            self._context.run(self._run.__exit__, type(error), error, error.__traceback__)
