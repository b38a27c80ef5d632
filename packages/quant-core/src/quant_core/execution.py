"""Running one stage attempt, the same way on every executor.

`execute_stage` is the one shared helper behind every backend: it validates params, consults the
cache, executes, checks the stage kept its contract (no mutation of its input, outputs matching
the output schema, same run id), stores the cache entry, and writes the ledger line and the
context snapshot. Backends decide only where and when it runs.

A cache hit is served only after the entry's checksum and the artifacts it names are checked;
anything damaged makes it a miss: the stage runs again, its outputs replace the damaged files, and
a `cache-repaired` audit event (and the ledger line) says what was found. (The seal finds any
changed byte; re-hashing the served output as well would cost more than the rest of a hit.)
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


from quant_core.artifacts import ArtifactStore
from quant_core.cache import CacheEntry, StageCache, cache_key, context_delta, iter_artifact_refs
from quant_core.context import AuditEvent, RunContext, coerce_context, context_from_data
from quant_core.errors import QuantError, StageFailedError, StoreError
from quant_core.hashing import canonical_json, content_hash, sha256_hex
from quant_core.home import QuantHome
from quant_core.records import (
    LedgerEntry,
    RunManifest,
    RunRecord,
    StepTimer,
    installed_versions,
    utc_now_iso,
)
from quant_core.registry import StageRegistry
from quant_core.spill import compact_context, expand_context
from quant_core.stage import Stage, StageSpec
from quant_core.telemetry import Telemetry


@dataclass(frozen=True)
class Runtime:
    """Everything an executor needs besides the work itself. Picklable: it crosses to workers."""

    home: QuantHome
    registry: StageRegistry
    force: bool = False
    versions: dict[str, str] = field(default_factory=installed_versions, compare=False)
    #: Spans and metrics (off unless asked for); on a worker it comes back with tracing only.
    telemetry: Telemetry = field(default_factory=Telemetry.off, compare=False)

    # Built once per runtime (they are asked for on every stage); not fields, so never compared.
    @functools.cached_property
    def store(self) -> ArtifactStore:
        return self.home.artifact_store()

    @functools.cached_property
    def cache(self) -> StageCache:
        return self.home.stage_cache()

    def record(self, run_id: str) -> RunRecord:
        return RunRecord(self.home.runs_dir, run_id)


@dataclass(frozen=True)
class PreparedStage:
    """A stage built for one input, before it runs: what its cache key is made of."""

    spec: StageSpec
    stage: Stage
    #: The params as the stage normalised them (defaults filled in): what the key and the
    #: context's provenance record.
    params: dict[str, Any]
    #: The input, coerced to the stage's context type.
    context: RunContext
    view: dict[str, Any]
    input_view: bytes
    cache_key: str


def prepare_stage(
    runtime: Runtime, stage_id: str, context: RunContext, params: Mapping[str, Any]
) -> PreparedStage:
    """Build `stage_id` for `context` and compute its cache key, as `execute_stage` does before
    it runs. An engine with a cache of its own (Prefect) keys it by this, so both caches agree.
    Raises `ParamValidationError` for bad params and `ContextKindError` for a context of the
    wrong kind."""
    spec = runtime.registry.get(stage_id)
    stage = build_stage(runtime.registry, stage_id, params, runtime.store)
    normalised_params = stage.params.model_dump(mode="json")
    context = coerce_context(context, spec.stage_class.context_type, stage_id)
    view = context.cache_view()
    input_view = canonical_json(view)
    key = cache_key(spec.id, spec.version, normalised_params, input_view, stage.cache_inputs())
    return PreparedStage(spec, stage, normalised_params, context, view, input_view, key)


def effective_params(step_params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {**step_params, **overrides}


def execute_stage(
    runtime: Runtime,
    record: RunRecord,
    *,
    step: int,
    stage_id: str,
    context: RunContext,
    params: Mapping[str, Any],
    attempt: int = 1,
    executor: str = "local",
) -> RunContext:
    """One attempt of one stage, recorded. Raises `StageFailedError` (after recording it)."""
    with runtime.telemetry.stage(record, stage_id=stage_id, step=step, attempt=attempt, executor=executor) as observed:
        return _execute_stage(
            runtime, observed, step=step, stage_id=stage_id, context=context, params=params,
            attempt=attempt, executor=executor,
        )


def _execute_stage(
    runtime: Runtime,
    record: RunRecord,
    *,
    step: int,
    stage_id: str,
    context: RunContext,
    params: Mapping[str, Any],
    attempt: int,
    executor: str,
) -> RunContext:
    timer = StepTimer()
    store = runtime.store
    prepared = prepare_stage(runtime, stage_id, context, params)
    spec, stage, context = prepared.spec, prepared.stage, prepared.context
    normalised_params, input_view, key = prepared.params, prepared.input_view, prepared.cache_key
    view = prepared.view
    input_hash = sha256_hex(input_view)
    trace_id = runtime.telemetry.trace_id()  # the attempt's span is current: its trace is the run's

    def ledger(status: str, **fields: Any) -> None:
        record.append_ledger(
            LedgerEntry(
                run_id=record.run_id, step=step, stage_id=stage_id, attempt=attempt,
                status=status, started_at=timer.started_at, duration_s=timer.elapsed(),
                input_hash=input_hash, cache_key=key, executor=executor, trace_id=trace_id, **fields,
            )
        )

    # The input's artifacts were checked where this run made or served them (or are read, and
    # so checked, by the stages that need them): only what the entry adds is hashed here.
    checked = {sha for sha, _ in iter_artifact_refs(view)}
    lookup = None if runtime.force else runtime.cache.lookup(key, store, checked=checked)
    damage: tuple[str, ...] = lookup.damage if lookup is not None else ()
    if lookup is not None and lookup.entry is not None:
        entry = lookup.entry
        output = context.model_copy(
            update={**_revalidated(context, entry.delta), "audit_trail": context.with_events(*entry.audit_delta)}
        )
        output = _with_stage_params(output, stage_id, normalised_params)
        record.write_context(record.context_name(step, stage_id), output)
        ledger("succeeded", output_hash=entry.output_hash, cache_hit=True)
        return output

    trail_length = len(context.audit_trail)
    try:
        # The stage sees its collections inline; what is cached, recorded and sent is compact.
        working, spilled = expand_context(store, context)
        working_view = input_view if working is context else canonical_json(working.cache_view())
        output = stage.execute(working)
        _check_contract(spec.id, working, output, working_view, trail_length)
        stage.outputs(output)
        output = compact_context(store, output, known=spilled, events_from=trail_length)
        output = _with_stage_params(output, stage_id, normalised_params)
        output_hash = _json_hash(spec.id, output)
    except Exception as exc:
        ledger("failed", error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, StageFailedError):
            raise
        raise StageFailedError(stage_id, record.run_id, exc) from exc

    before = context.model_dump(mode="json")
    after = output.model_dump(mode="json")
    try:
        runtime.cache.put(
            key,
            CacheEntry(
                stage_id=spec.id,
                stage_version=spec.version,
                delta=context_delta(before, after),
                audit_delta=output.audit_trail[trail_length:],
                output_hash=output_hash,
            ),
        )
        if damage:
            # On the record of this run, not in the cache entry: a later hit has nothing to repair.
            output = output.model_copy(update={"audit_trail": output.with_events(_repair_event(stage_id, damage))})
        record.write_context(record.context_name(step, stage_id), output)
    except StoreError as exc:
        ledger("failed", error=f"{type(exc).__name__}: {exc}")
        raise StageFailedError(stage_id, record.run_id, exc) from exc
    ledger("succeeded", output_hash=output_hash, repaired=list(damage))
    return output


def _repair_event(stage_id: str, damage: tuple[str, ...]) -> AuditEvent:
    return AuditEvent(
        stage_id=stage_id, level="warning", code="cache-repaired",
        message=f"{'; '.join(damage)}: the stage ran again and its outputs replaced the damaged files",
        data={"damaged": list(damage)},
    )


def _json_hash(stage_id: str, output: RunContext) -> str:
    try:
        return content_hash(output.cache_view())
    except ValueError as exc:  # NaN or infinity: JSON has neither
        raise ValueError(f"stage {stage_id} returned a context that is not JSON: {exc} (use null for undefined numbers)") from None


def _with_stage_params(context: RunContext, stage_id: str, params: dict[str, Any]) -> RunContext:
    """Record the params the stage ran with under its id: provenance for readers of the context,
    and what later stages (the walk-forward backtest) use to redo earlier ones."""
    return context.model_copy(update={"params": {**context.params, stage_id: params}})


def _revalidated(context: RunContext, delta: dict[str, Any]) -> dict[str, Any]:
    """Cached delta values rebuilt as the context's own field types (models, not dicts)."""
    rebuilt = context_from_data(context.model_dump(mode="json") | delta)
    return {name: getattr(rebuilt, name) for name in delta}


def _check_contract(
    stage_id: str, given: RunContext, output: Any, input_view: bytes, trail_length: int
) -> None:
    if not isinstance(output, type(given)):
        raise TypeError(
            f"stage {stage_id} returned {type(output).__name__}, expected a {type(given).__name__}"
        )
    if output.run_id != given.run_id:
        raise ValueError(f"stage {stage_id} changed the run id ({given.run_id} -> {output.run_id})")
    if len(given.audit_trail) != trail_length or canonical_json(given.cache_view()) != input_view:
        raise ValueError(f"stage {stage_id} mutated its input context (it must return a new one)")
    if output.audit_trail[:trail_length] != given.audit_trail:
        raise ValueError(f"stage {stage_id} rewrote earlier audit events")


def execute_stage_with_retries(
    runtime: Runtime,
    record: RunRecord,
    *,
    step: int,
    stage_id: str,
    context: RunContext,
    params: Mapping[str, Any],
    executor: str = "local",
    sleep: Any = time.sleep,
) -> RunContext:
    """`execute_stage` with the stage's declared retries and exponential backoff.

    User errors (parameters, data) are not retried: they would fail the same way every time."""
    spec = runtime.registry.get(stage_id)
    attempts = spec.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return execute_stage(
                runtime, record, step=step, stage_id=stage_id, context=context,
                params=params, attempt=attempt, executor=executor,
            )
        except StageFailedError as failure:
            if attempt == attempts or not failure.retryable:
                raise
            sleep(retry_delay(spec.retry_delay_s, attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def retry_delay(base_s: float, attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): exponential backoff. Every
    executor uses it, so a stage's retries behave alike everywhere."""
    return base_s * 2 ** (attempt - 1)


@contextlib.contextmanager
def recorded_run(
    runtime: Runtime,
    *,
    kind: str,
    target: str,
    context: RunContext,
    params: Mapping[str, Mapping[str, Any]],
    steps: list[dict[str, Any]],
    executor: str,
    parent_run_id: str | None = None,
    traceparent: str | None = None,
    engine: Mapping[str, Any] | None = None,
) -> Iterator[RunRecord]:
    """Open a run's record (manifest + input context) under the run's lock, yield it, and close
    it with the outcome. The same run id already running elsewhere: `RunLockedError`. `engine`
    goes into the manifest as it is: how the executor's engine names the run.

    The run is traced and counted when telemetry is on: its span is a child of `traceparent`
    (the W3C traceparent of a span in another thread or process, e.g. the parent run of a
    sleeve), else of the current span."""
    record = runtime.record(context.run_id)
    with record.lock() as owner:
        now = utc_now_iso()
        manifest = record.begin(
            RunManifest(
                run_id=context.run_id, kind=kind, target=target, parent_run_id=parent_run_id,
                profile=context.profile, executor=executor, params={k: dict(v) for k, v in params.items()},
                steps=steps, versions=runtime.versions, created_at=now, started_at=now, owner=owner,
                engine=dict(engine or {}),
            ),
            context,
        )
        with runtime.telemetry.run(record, manifest, traceparent=traceparent) as observed:
            try:
                yield observed
            except BaseException as exc:
                message = str(exc) if isinstance(exc, QuantError) else f"{type(exc).__name__}: {exc}"
                try:
                    record.finish(manifest, "failed", message)
                except StoreError as unrecorded:
                    # Usually the same cause (a full disk): the run's own error says more. The
                    # record stays "running", which reads as "interrupted" once this process is gone.
                    exc.add_note(f"the run's record could not be closed: {unrecorded}")
                raise
            record.finish(manifest, "succeeded")


def build_stage(
    registry: StageRegistry, stage_id: str, params: Mapping[str, Any], store: ArtifactStore | None = None
) -> Stage:
    """The stage built from `params`: checked by its JSON Schema (the published contract), then by
    its pydantic `Params` (cross-field rules); either failure is a `ParamValidationError`."""
    registry.params_validator(stage_id).validate(params)
    return registry.get(stage_id).stage_class(artifacts=store, **params)


def check_params(registry: StageRegistry, stage_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate params for a stage now (before a run starts) and give them back normalised."""
    return build_stage(registry, stage_id, params).params.model_dump(mode="json")


__all__ = [
    "PreparedStage",
    "Runtime",
    "build_stage",
    "check_params",
    "effective_params",
    "execute_stage",
    "execute_stage_with_retries",
    "prepare_stage",
    "recorded_run",
    "retry_delay",
]
