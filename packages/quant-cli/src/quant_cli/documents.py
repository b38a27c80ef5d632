"""The JSON documents the commands produce. `--json` prints them as they are; the Rich renderers
draw the same documents, so what a human reads and what a script parses never disagree."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from quant_core.context import MetaContext, RunContext, context_from_data
from quant_core.pipeline import FanOutStep, PipelineSpec, StageStep, is_fan_out_step
from quant_core.profiles import ResolvedProfile
from quant_core.errors import StoreDamagedError
from quant_core.records import LedgerEntry, RecordProblem, RunManifest, RunRecord, child_records, latest_attempts
from quant_core.registry import StageRegistry
from quant_core.sdk import QuantSDK, RunResult
from quant_core.spill import expanded_document
from quant_core.stage import StageSpec

from quant_cli.run_ids import short_id
from quant_cli.summary import results_document



def first_paragraph(text: str) -> str:
    return inspect.cleandoc(text or "").split("\n\n", 1)[0].replace("\n", " ").strip()


# -- stages and pipelines ----------------------------------------------------------------------


def stage_summary(spec: StageSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "version": spec.version,
        "tags": list(spec.tags),
        "context_kind": spec.context_kind,
        "retries": spec.retries,
        "description": first_paragraph(spec.description),
        "params": spec.param_names,
    }


def pipeline_steps(registry: StageRegistry, spec: PipelineSpec) -> list[dict[str, Any]]:
    """The steps that run, in order (includes expanded; a fan-out lists its branch's stages)."""
    steps: list[dict[str, Any]] = []
    for index, step in enumerate(registry.flatten(spec), start=1):
        if isinstance(step, StageStep):
            steps.append({"step": index, "kind": "stage", "id": step.stage, "params": dict(step.params)})
        elif isinstance(step, FanOutStep):
            branch = [s.stage for s in registry.flatten(step.pipeline) if isinstance(s, StageStep)]
            steps.append(
                {
                    "step": index, "kind": "fan_out", "id": step.step_id, "pipeline": step.pipeline,
                    "over": step.over, "strict": step.strict, "stages": branch,
                }
            )
    return steps


def pipeline_summary(registry: StageRegistry, spec: PipelineSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "description": first_paragraph(spec.description),
        "context_kind": spec.context_kind,
        "steps": [s["id"] for s in pipeline_steps(registry, spec)],
    }


def pipeline_document(registry: StageRegistry, spec: PipelineSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "description": spec.description,
        "context_kind": spec.context_kind,
        "steps": pipeline_steps(registry, spec),
    }


# -- profiles and datasets ---------------------------------------------------------------------


def profile_summary(profile: ResolvedProfile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "kind": profile.kind,
        "description": first_paragraph(profile.description),
        "sleeves": [s.name for s in profile.sleeves],
    }


def dataset_summary(dataset: Any, entry_point: str) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "description": getattr(dataset, "description", "") or "",
        "params_schema": getattr(dataset, "params_schema", {}) or {},
        "entry_point": entry_point,
    }


# -- runs --------------------------------------------------------------------------------------


def stage_row(entry: LedgerEntry) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": entry.stage_id,
        "step": entry.step,
        "status": entry.status,
        "cache_hit": entry.cache_hit,
        "duration_s": entry.duration_s,
        "attempt": entry.attempt,
    }
    if entry.error:
        row["error"] = entry.error
    return row


def ledger_row(entry: LedgerEntry) -> dict[str, Any]:
    return entry.model_dump(mode="json")


def is_stage_row(row: dict[str, Any]) -> bool:
    return not is_fan_out_step(str(row["id"]))


def sleeve_runs(sdk: QuantSDK, context: RunContext, since: str) -> list[dict[str, Any]]:
    """Each sleeve of a fan-out: its run, outcome and the stages it ran in this invocation
    (`context` expanded: its sleeve results inline)."""
    if not isinstance(context, MetaContext):
        return []
    sleeves = []
    for result in context.sleeve_results:
        record = sdk.record(result.run_id)
        # this invocation's lines; a damaged earlier line is for `quant runs show` to name
        entries = [e for e in record.scan_ledger()[0] if e.started_at >= since]
        sleeve: dict[str, Any] = {
            "name": result.name,
            "profile": result.profile,
            "run_id": result.run_id,
            "status": result.status,
            "record": str(record.path),
            "stages": [stage_row(e) for e in latest_attempts(entries)],
        }
        if result.error:
            sleeve["error"] = result.error
        sleeves.append(sleeve)
    return sleeves


def run_document(sdk: QuantSDK, result: RunResult) -> dict[str, Any]:
    """What a finished stage or pipeline run gives back (`quant stage run --json` and friends)."""
    manifest = result.manifest
    stages = [stage_row(e) for e in result.latest_attempts()]
    # Collections kept as artifacts (clusters, winners, sleeve results at large N) are shown inline.
    shown = sdk.expanded(result.context)
    sleeves = sleeve_runs(sdk, shown, manifest.started_at)
    counted = [r for r in stages if is_stage_row(r)] + [r for s in sleeves for r in s["stages"]]
    return {
        "run_id": result.run_id,
        "kind": result.kind,
        "target": result.target,
        "status": result.status,
        "profile": manifest.profile,
        "executor": manifest.executor,
        "invocations": manifest.invocations,
        "record": str(result.record),
        "stage_count": len(counted),
        "cache_hits": sum(1 for r in counted if r["cache_hit"]),
        "stages": stages,
        "sleeves": sleeves,
        "outputs": shown.model_dump(mode="json", exclude={"audit_trail"}),
        "audit_events": len(result.context.audit_trail),
        "results": results_document(sdk.registry, result.target, shown),
    }


def manifest_summary(manifest: RunManifest, sleeve_runs: list[str] | None = None) -> dict[str, Any]:
    """A run as `quant runs list` gives it: its manifest, its short id, its sleeve runs' ids."""
    return manifest.model_dump(mode="json") | {"short_id": short_id(manifest.run_id), "sleeve_runs": sleeve_runs or []}


def run_listing(manifests: list[RunManifest], include_sleeves: bool) -> list[dict[str, Any]]:
    """Newest first; sleeve runs (named by their meta run in `sleeve_runs`) only when asked."""
    children: dict[str, list[str]] = {}
    for manifest in manifests:
        if manifest.parent_run_id is not None:
            children.setdefault(manifest.parent_run_id, []).append(manifest.run_id)
    return [
        manifest_summary(m, sorted(children.get(m.run_id, [])))
        for m in manifests
        if include_sleeves or m.parent_run_id is None
    ]


def sleeve_manifests(
    sdk: QuantSDK, run_id: str, damaged: list[RecordProblem] | None = None
) -> list[RunManifest]:
    """The runs whose parent is `run_id` (a fan-out names them `<run_id>.<sleeve>`), by name.
    A damaged manifest goes to `damaged` when it is given (else it raises)."""
    found = []
    for record in child_records(sdk.home.runs_dir, run_id):
        if record.exists():
            try:
                manifest = record.read_manifest()
            except StoreDamagedError as exc:
                if damaged is None:
                    raise
                damaged.append(RecordProblem(exc.path or str(record.manifest_path), exc.reason))
                continue
            if manifest.parent_run_id == run_id:
                found.append(manifest)
    return found


def _ledger_rows(record: RunRecord, damaged: list[RecordProblem]) -> list[dict[str, Any]]:
    entries, problems = record.scan_ledger()
    damaged.extend(problems)
    return [ledger_row(e) for e in entries]


def run_record_document(sdk: QuantSDK, run_id: str) -> dict[str, Any]:
    """A recorded run as `quant runs show` gives it: manifest, whole ledger, and its sleeve runs;
    damaged lines and sleeve manifests are listed apart (`damaged`), with their file and line."""
    record = sdk.record(run_id)
    manifest = record.read_manifest()
    damaged: list[RecordProblem] = []
    ledger = _ledger_rows(record, damaged)
    sleeves = [
        {
            "run_id": m.run_id,
            "status": m.status,
            "profile": m.profile,
            "record": str(sleeve.path),
            "ledger": _ledger_rows(sleeve, damaged),
            "context": last_context_document(sdk, sleeve, damaged),
        }
        for m in sleeve_manifests(sdk, run_id, damaged)
        for sleeve in [sdk.record(m.run_id)]
    ]
    return {
        "run_id": run_id,
        "record": str(record.path),
        "manifest": manifest.model_dump(mode="json"),
        "ledger": ledger,
        "context": last_context_document(sdk, record, damaged),
        "sleeves": sleeves,
        "trace_ids": trace_ids([ledger, *(sleeve["ledger"] for sleeve in sleeves)]),
        "damaged": [problem.to_json() for problem in damaged],
        "results": recorded_results(sdk, record, manifest),
    }


def trace_ids(ledgers: list[list[dict[str, Any]]]) -> list[str]:
    """The OpenTelemetry traces the run's attempts were traced in, first first: one per
    invocation of a run traced on any executor, none when tracing was off."""
    found = dict.fromkeys(row["trace_id"] for rows in ledgers for row in rows if row.get("trace_id"))
    return list(found)


def recorded_results(sdk: QuantSDK, record: RunRecord, manifest: RunManifest) -> dict[str, Any] | None:
    """The results of the context the run last recorded (None before its first step), its
    collections read back from the store."""
    if len(record.context_names()) < 2:  # only its input: no step has run
        return None
    return results_document(sdk.registry, manifest.target, sdk.expanded(record.last_context()))


def last_context_document(sdk: QuantSDK, record: RunRecord, damaged: list[RecordProblem]) -> dict[str, Any]:
    """The last context the run recorded whole, collections and audit data inline ({} when it
    recorded none); damaged lines go to `damaged`."""
    entries, problems = record.scan_contexts()
    damaged.extend(problems)
    if not entries:
        return {}
    return expanded_document(sdk.home.artifact_store(), context_from_data(entries[-1][1]))
