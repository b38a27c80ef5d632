"""The `dbos` executor: every run a DBOS durable workflow (see `workflows`), started or joined
through `runs.run_durably`.

Built as `DbosExecutor(runtime, dbos_database_url=None, workers=1, accept_version_change=False)`
(the class is the factory of the entry point `quant.executors: dbos`):

- `dbos_database_url`: the DBOS system database (see `settings`; default SQLite under
  `$QUANT_HOME`, or `DBOS_SYSTEM_DATABASE_URL`);
- `workers`: how many sleeves of a fan-out run at once (the concurrency of the run's queue);
- `accept_version_change`: continue a run left pending by another version of quant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from quant_core.context import RunContext
from quant_core.execution import Runtime
from quant_core.executors.base import map_each
from quant_core.executors.options import check_workers
from quant_core.pipeline import PipelineSpec, StageStep
from quant_core.sdk import QuantSDK, RunResult

from quant_flows_dbos.engine import DbosEngine, engine_for
from quant_flows_dbos.request import RunRequest
from quant_flows_dbos.runs import run_durably
from quant_flows_dbos.settings import DbosSettings, settings_for


class DbosExecutor:
    name = "dbos"

    def __init__(
        self,
        runtime: Runtime,
        *,
        dbos_database_url: str | None = None,
        workers: int = 1,
        accept_version_change: bool = False,
    ) -> None:
        self.runtime = runtime
        self.workers = check_workers(self.name, workers)
        self.accept_version_change = accept_version_change
        self.settings: DbosSettings = settings_for(runtime.home, runtime.versions, dbos_database_url)

    @property
    def engine(self) -> DbosEngine:
        """quant's DBOS in this process (launched on first use)."""
        return engine_for(self.runtime, self.settings)

    def run_pipeline(
        self, spec: PipelineSpec, context: RunContext, params: Mapping[str, Mapping[str, Any]]
    ) -> RunContext:
        steps = self.runtime.registry.flatten(spec)
        return self._run(RunRequest.build("pipeline", spec.id, steps, context, _plain(params), **self._settings()))

    def map(self, stage_id: str, contexts: Sequence[RunContext], params: Mapping[str, Any]) -> list[RunContext]:
        step = StageStep(stage=stage_id, params=dict(params))

        def run_one(context: RunContext) -> RunContext:
            request = RunRequest.build("stage", stage_id, [step], context, {stage_id: dict(params)}, **self._settings())
            return self._run(request)

        return map_each(stage_id, contexts, run_one)

    def _settings(self) -> dict[str, Any]:
        # The workflow runs on a DBOS thread: the caller's span travels in its input.
        return {
            "home": str(self.runtime.home.root), "store": self.runtime.home.store_location.to_json(),
            "force": self.runtime.force, "sleeve_concurrency": self.workers,
            "traceparent": self.runtime.telemetry.traceparent(),
        }

    def _run(self, request: RunRequest) -> RunContext:
        engine = self.engine
        try:
            output = run_durably(engine, request, accept_version_change=self.accept_version_change)
        except Exception:
            engine.finish_recovered()
            raise
        engine.finish_recovered()
        return output


def pipeline_workflow(pipeline_id: str) -> Callable[..., RunResult]:
    """The durable workflow of the registered pipeline `pipeline_id`, as a function of a run id and
    a profile: `pipeline_workflow("portfolio.full")("run-1", "demo_equities")`. The pipeline's
    steps come from its `PipelineSpec` in the SDK's registry when it is called."""

    def run(
        run_id: str,
        profile: str,
        *,
        sdk: QuantSDK | None = None,
        params: Mapping[str, Any] | None = None,
        dbos_database_url: str | None = None,
        workers: int = 1,
    ) -> RunResult:
        options: dict[str, Any] = {"workers": workers}
        if dbos_database_url is not None:
            options["dbos_database_url"] = dbos_database_url
        return (sdk or QuantSDK()).run_pipeline(
            pipeline_id, run_id=run_id, profile=profile, params=params, executor=DbosExecutor.name,
            executor_options=options,
        )

    run.__name__ = run.__qualname__ = f"{pipeline_id.replace('.', '_')}_workflow"
    run.__doc__ = f"Run pipeline {pipeline_id!r} as a DBOS durable workflow (workflow id = run id)."
    return run


#: `selection.full` as a durable workflow: `selection_workflow(run_id, profile)`.
selection_workflow = pipeline_workflow("selection.full")


def _plain(params: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {stage_id: dict(values) for stage_id, values in params.items()}
