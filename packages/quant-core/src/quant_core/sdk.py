"""`QuantSDK`: the one front door used by the CLI, agents and notebooks."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from quant_core.config import QuantConfig
from quant_core.context import CONTEXT_TYPES, MetaContext, RunContext, SleeveSpec, coerce_context
from quant_core.errors import InvalidRunIdError, ParamValidationError, ProfileNotFoundError
from quant_core.executors.options import accepted_options, check_executor_options
from quant_core.home import QuantHome
from quant_core.params import coerce_params
from quant_core.pipeline import PipelineSpec
from quant_core.planning import (
    branch_stage_ids,
    merge_params,
    resolve_overrides,
    select_steps,
    stage_ids,
    start_context,
)
from quant_core.profiles import ProfileCatalog, ResolvedProfile
from quant_core.records import (
    MAX_RUN_ID_LENGTH,
    LedgerEntry,
    RecordProblem,
    RunManifest,
    RunRecord,
    RunScan,
    installed_versions,
    latest_attempts,
    list_runs,
    new_run_id,
    scan_runs,
    sleeve_run_id,
    validate_run_id,
)
from quant_core.registry import StageRegistry
from quant_core.stores.location import StoreLocation
from quant_core.telemetry import Telemetry
from quant_core.uri import QuantURI, parse_uri

if TYPE_CHECKING:
    from quant_core.execution import Runtime
    from quant_core.stores.runs import RunMirror

# The run machinery (`quant_core.execution`: the runtime, the cache, parameter checks) is imported
# by the methods that run or check: a command that only reads the catalogue or the records
# (`quant stage list`, `quant runs list`) builds an SDK and never runs.


class PipelinePlan(NamedTuple):
    """What an executor is handed: the steps, the start context and every stage's params."""

    spec: PipelineSpec
    context: RunContext
    stage_params: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class RunResult:
    """What a finished run gives back: its final context and where its record is."""

    run_id: str
    kind: str
    target: str
    status: str
    context: RunContext
    record: Path
    ledger: list[LedgerEntry]
    manifest: RunManifest
    #: Damaged lines found in the run's ledger while reading this invocation's (left out of
    #: `ledger`; they come from earlier invocations or from outside).
    record_problems: tuple[RecordProblem, ...] = ()

    @property
    def cache_hits(self) -> int:
        return sum(1 for e in self.ledger if e.cache_hit)

    def latest_attempts(self) -> list[LedgerEntry]:
        """The last ledger line of each step of this invocation (a resumed run has earlier ones)."""
        return latest_attempts(self.ledger)


class QuantSDK:
    def __init__(
        self,
        home: str | os.PathLike[str] | QuantHome | None = None,
        registry: StageRegistry | None = None,
        profiles: ProfileCatalog | None = None,
        versions: Mapping[str, str] | None = None,
        *,
        config: QuantConfig | str | os.PathLike[str] | None = None,
        telemetry: Telemetry | None = None,
        store: str | os.PathLike[str] | StoreLocation | None = None,
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        """`versions` (distribution -> version, written to every run manifest) is read from the
        installed packages once, on first use, unless given.

        `config` is the deployment's configuration (a `QuantConfig`, or the path of its file);
        by default it is read as the `quant` command reads it (`QUANT_CONFIG`, `./quant.toml`,
        `[tool.quant]` of `./pyproject.toml`, the environment). It gives the home when `home` is
        not given, the store, the default executor and its options, and the telemetry unless
        `telemetry` is given.

        `store` is where artifacts and the cache live (a path or a URL such as
        `s3://bucket/prefix`, with fsspec `store_options`); default: the configuration's
        (`QUANT_STORE`, `store =`), else the home."""
        self.config = config if isinstance(config, QuantConfig) else QuantConfig.load(file=config)
        if isinstance(home, QuantHome):
            self.home = home
        elif home is not None:
            root = QuantHome.resolve(home, environ={}).root
            self.home = QuantHome(root, self.config.store_location(root))
        else:
            self.home = self.config.home
        if store is not None:
            location = store if isinstance(store, StoreLocation) else StoreLocation.parse(store, options=store_options)
            self.home = replace(self.home, store=location)
        self._registry = registry
        self._profiles = profiles
        self._versions = dict(versions) if versions is not None else None
        self._telemetry = telemetry

    @property
    def registry(self) -> StageRegistry:
        if self._registry is None:
            self._registry = StageRegistry.default()
        return self._registry

    @property
    def profiles(self) -> ProfileCatalog:
        if self._profiles is None:
            self._profiles = ProfileCatalog.from_entry_points()
        return self._profiles

    @property
    def versions(self) -> dict[str, str]:
        # Reading package metadata costs milliseconds per distribution: once per SDK, not per run.
        if self._versions is None:
            self._versions = installed_versions()
        return self._versions

    @property
    def telemetry(self) -> Telemetry:
        """Spans and metrics as the configuration asks (off by default), built once per SDK so
        its metrics add up over the runs it makes."""
        if self._telemetry is None:
            self._telemetry = Telemetry.from_settings(self.config.settings.telemetry)
        return self._telemetry

    def runtime(self, force: bool = False) -> Runtime:
        from quant_core.execution import Runtime

        return Runtime(
            home=self.home, registry=self.registry, force=force, versions=self.versions, telemetry=self.telemetry
        )

    def executor(self, name: str | None = None, force: bool = False, **options: Any) -> Any:
        """The executor `name` (default: the configured one) built for this SDK's state, with
        the configuration's settings for it under the given `options`; an option it does not
        take is a parameter error naming the option and the ones it does take."""
        name = name or self.config.executor
        factory = self.registry.executor_factory(name)
        options = {**self.config.executor_options(name, accepted_options(factory)), **options}
        check_executor_options(name, factory, options)
        return factory(self.runtime(force), **options)

    def resolve_profile(self, name: str) -> ResolvedProfile:
        return self.profiles.resolve(name, self.home)

    def check_profile(self, name: str) -> ResolvedProfile:
        """Resolve a profile and, for a meta profile, every sleeve's profile, as a run would:
        an unknown sleeve profile or a sleeve naming a meta profile is an error now."""
        resolved = self.resolve_profile(name)
        for sleeve in resolved.sleeves:
            self._sleeve_profile(resolved, sleeve)
        return resolved

    def _sleeve_profile(self, meta: ResolvedProfile, sleeve: SleeveSpec) -> ResolvedProfile:
        where = f"profile {meta.name!r}" + (f" ({meta.source})" if meta.source else "")
        try:
            found = self.resolve_profile(sleeve.profile)
        except ProfileNotFoundError as exc:
            exc.message = f"{where}: sleeve {sleeve.name!r} names an {exc.message}"
            exc.args = (exc.message,)
            raise
        if found.kind == "meta":
            raise ParamValidationError(
                f"{where}: sleeve {sleeve.name!r} names the meta profile "
                f"{sleeve.profile!r}; a sleeve runs a portfolio profile",
                param="profile", value=sleeve.profile, rule="sleeve-kind",
            )
        return found

    # -- running --------------------------------------------------------------------------------

    def run_stage(
        self,
        stage_id: str,
        context: RunContext | None = None,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        profile: str | None = None,
        executor: str | None = None,
        force: bool = False,
        executor_options: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Run one stage as its own run. `context` may come from another run (`last_context`).

        The params start from, in this order of preference: the given profile's params for the
        stage; else the params the stage ran with in the run `context` comes from (recorded in
        `context.params`), so a re-run changes only what `params` says; else the params of that
        run's profile. `params` is laid over them."""
        from quant_core.execution import check_params

        spec = self.registry.get(stage_id)
        run_id = validate_run_id(run_id) if run_id else new_run_id(stage_id)
        layered = self._base_stage_params(stage_id, context, profile)
        given = coerce_params(spec.input_schema, dict(params or {}), owner=stage_id)
        stage_params = check_params(self.registry, stage_id, {**layered, **given})
        if context is None:
            context = CONTEXT_TYPES[spec.context_kind](run_id=run_id, profile=profile)
        else:
            from quant_core.spill import with_run_id

            update: dict[str, Any] = {} if profile is None else {"profile": profile}
            # checked before the new run id goes in, so an error names the run it came from
            coerced = coerce_context(context, spec.stage_class.context_type, stage_id)
            context = with_run_id(self.home.artifact_store(), coerced, run_id, **update)
        runner = self.executor(executor, force=force, **dict(executor_options or {}))
        with self._publishing(run_id):
            (output,) = runner.map(stage_id, [context], stage_params)
        return self._result(run_id, output)

    def _base_stage_params(self, stage_id: str, context: RunContext | None, profile: str | None) -> dict[str, Any]:
        if profile is not None:
            return dict(self.resolve_profile(profile).stage_params.get(stage_id, {}))
        if context is None:
            return {}
        recorded = context.params.get(stage_id)
        if isinstance(recorded, dict):
            return dict(recorded)
        if context.profile is not None:
            return dict(self.resolve_profile(context.profile).stage_params.get(stage_id, {}))
        return {}

    def run_pipeline(
        self,
        pipeline_id: str,
        stages: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        executor: str | None = None,
        *,
        profile: str | None = None,
        force: bool = False,
        context: RunContext | None = None,
        executor_options: Mapping[str, Any] | None = None,
    ) -> RunResult:
        plan = self.plan_pipeline(
            pipeline_id, stages=stages, params=params, run_id=run_id, profile=profile, context=context
        )
        return self.run_planned(plan, executor, force=force, executor_options=executor_options)

    def run_planned(
        self,
        plan: PipelinePlan,
        executor: str | None = None,
        *,
        force: bool = False,
        executor_options: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> RunResult:
        """Run a plan from `plan_pipeline` or `resume_plan` (so a caller that looked at the plan,
        e.g. to size a progress bar, does not plan twice). `parent_run_id`: the meta run a sleeve
        run belongs to, when it is resumed on its own."""
        runner = self.executor(executor, force=force, **dict(executor_options or {}))
        # Only a sleeve run resumed alone has a parent; other executors need not take the option.
        lineage = {"parent_run_id": parent_run_id} if parent_run_id else {}
        with self._publishing(plan.context.run_id):
            output = runner.run_pipeline(plan.spec, plan.context, plan.stage_params, **lineage)
        return self._result(plan.context.run_id, output)

    def plan_pipeline(
        self,
        pipeline_id: str,
        *,
        stages: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        profile: str | None = None,
        context: RunContext | None = None,
    ) -> PipelinePlan:
        """What `run_pipeline` hands to the executor: the spec, the start context, stage params.
        Every parameter is validated here, before anything runs."""
        from quant_core.execution import check_params

        registry = self.registry
        registered = registry.get_pipeline(pipeline_id)
        steps = registry.flatten(registered)
        spec = select_steps(registered, steps, stages)
        run_id = validate_run_id(run_id) if run_id else new_run_id(pipeline_id)
        targets = stage_ids(registry, steps)
        branch_targets = branch_stage_ids(registry, steps)
        overrides = resolve_overrides(registry, [*targets, *[t for t in branch_targets if t not in targets]], params or {}, pipeline_id)
        resolved = self.resolve_profile(profile) if profile else None
        stage_params = merge_params(resolved.stage_params if resolved else {}, overrides, only=targets)
        stage_params = {sid: check_params(registry, sid, p) for sid, p in stage_params.items()}

        sleeves: list[SleeveSpec] = []
        if branch_targets:
            if resolved is None or not resolved.sleeves:
                raise ParamValidationError(
                    f"pipeline {pipeline_id} fans out over sleeves: give a meta profile that lists them "
                    f"(e.g. --profile demo)", param="profile", value=profile, rule="required",
                )
            for sleeve in resolved.sleeves:
                sleeve_profile = self._sleeve_profile(resolved, sleeve)
                merged = merge_params(sleeve_profile.stage_params, sleeve.stage_params, overrides, only=branch_targets)
                sleeves.append(
                    sleeve.model_copy(
                        update={"stage_params": {sid: check_params(registry, sid, p) for sid, p in merged.items()}}
                    )
                )
        for sleeve in sleeves:  # before anything is written: a sleeve's run id must be valid too
            try:
                sleeve_run_id(run_id, sleeve.name)
            except InvalidRunIdError:
                raise InvalidRunIdError(
                    f"run id {run_id!r} is too long for its sleeves: sleeve {sleeve.name!r} would run as "
                    f"{run_id}.{sleeve.name} ({len(run_id) + 1 + len(sleeve.name)} characters; at most "
                    f"{MAX_RUN_ID_LENGTH})",
                    param="run_id", value=run_id, rule="maxLength",
                ) from None
        from quant_core.spill import compact_context, with_run_id

        store = self.home.artifact_store()
        if context is None:
            start = start_context(spec.context_kind, run_id, profile, sleeves)
        else:
            start = with_run_id(store, context, run_id, **({"profile": profile} if profile else {}))
            if sleeves and isinstance(start, MetaContext):
                start = start.model_copy(update={"sleeves": sleeves})
        # The start context is recorded and sent like any other: the sleeves' specs (every stage's
        # params) are spilled past INLINE_LIMIT_BYTES, so it stays small at any number of sleeves.
        return PipelinePlan(spec, compact_context(store, start), stage_params)

    def run_uri(self, uri: str | QuantURI, **options: Any) -> RunResult:
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if parsed.executor is not None:
            options.setdefault("executor", parsed.executor)
        if parsed.kind == "pipeline":
            return self.run_pipeline(parsed.target, params=parsed.params, run_id=parsed.run_id, profile=parsed.profile, **options)
        return self.run_stage(parsed.target, params=parsed.params, run_id=parsed.run_id, profile=parsed.profile, **options)

    def resume(
        self,
        run_id: str,
        *,
        executor: str | None = None,
        force: bool = False,
        executor_options: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Run a recorded run again as it was started: finished steps come from the cache, so a
        failed run continues at the step that failed."""
        manifest, plan = self.resume_plan(run_id)
        options = dict(executor_options or {})
        if manifest.kind == "pipeline":
            return self.run_planned(
                plan, executor or manifest.executor, force=force, executor_options=options,
                parent_run_id=manifest.parent_run_id,
            )
        runner = self.executor(executor or manifest.executor, force=force, **options)
        with self._publishing(run_id):
            (output,) = runner.map(manifest.target, [plan.context], plan.stage_params.get(manifest.target, {}))
        return self._result(run_id, output)

    def resume_plan(self, run_id: str) -> tuple[RunManifest, PipelinePlan]:
        """The recorded request of a run, as a plan (a stage run is a one-step plan)."""
        record = self.record(run_id)
        manifest = record.read_manifest()
        context = record.input_context()
        spec = PipelineSpec.model_validate(
            {"id": manifest.target, "context_kind": context.kind, "steps": manifest.steps}
        )
        return manifest, PipelinePlan(spec, context, manifest.params)

    # -- records --------------------------------------------------------------------------------

    def record(self, run_id: str) -> RunRecord:
        """The record of `run_id`; with `store_runs`, fetched from the store when this machine
        has none."""
        record = RunRecord(self.home.runs_dir, run_id)
        if self._run_mirror is not None and not record.exists():
            self._run_mirror.fetch(run_id)
        return record

    def list_runs(self) -> list[RunManifest]:
        if self._run_mirror is not None:
            self._run_mirror.fetch_all()
        return list_runs(self.home.runs_dir)

    def scan_runs(self) -> RunScan:
        """Every run whose manifest reads, and the damaged ones (named, not raised)."""
        if self._run_mirror is not None:
            self._run_mirror.fetch_all()
        return scan_runs(self.home.runs_dir)

    @functools.cached_property
    def _run_mirror(self) -> RunMirror | None:
        """The copy of run records under the store, when the store location asks for it."""
        location = self.home.store_location
        if not location.runs:
            return None
        from quant_core.stores.runs import RunMirror

        return RunMirror(location, self.home.runs_dir)

    @contextlib.contextmanager
    def _publishing(self, run_id: str) -> Iterator[None]:
        """Publish the run's record under the store once the run ends, failed or not (a failure
        to publish after a failed run carries that run's error as its context)."""
        try:
            yield
        finally:
            if self._run_mirror is not None:
                self._run_mirror.publish(run_id)

    def last_context(self, run_id: str) -> RunContext:
        record = self.record(run_id)
        record.read_manifest()  # a clear RunNotFoundError for an unknown id
        return record.last_context()

    def expanded(self, context: RunContext) -> RunContext:
        """`context` with every collection that was kept as an artifact (clusters, vetoes, ...
        at large universes) and every audit event's full data back inline."""
        from quant_core.spill import expanded

        return expanded(self.home.artifact_store(), context)

    def _result(self, run_id: str, output: RunContext) -> RunResult:
        record = self.record(run_id)
        manifest = record.read_manifest()
        entries, problems = record.scan_ledger()
        ledger = [e for e in entries if e.started_at >= manifest.started_at]
        return RunResult(
            run_id=run_id, kind=manifest.kind, target=manifest.target, status=manifest.status,
            context=output, record=record.path, ledger=ledger, manifest=manifest,
            record_problems=tuple(problems),
        )
