"""Starting a run's workflow, or joining the one DBOS already holds under its run id.

- No workflow yet: start one (workflow id = run id).
- Succeeded: its recorded result, and nothing executes (a second start of the same run).
- Failed, cancelled, or out of recovery attempts: continued where it stopped (`continuation`), so
  a run fixed and resumed goes on at the step that failed, as on every executor.
- Pending under this application version: waited for. If the process that held it is gone (this
  host), DBOS's recovery takes it over first; a holder on another host may still be running it.
- Pending under another version: refused, naming both versions, unless the caller accepts
  continuing it under this version.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS, SetWorkflowID
from quant_core.context import RunContext, context_from_data
from quant_core.errors import ParamValidationError, RunConflictError

from quant_flows_dbos.continuation import ACTIVE, SUCCEEDED, continue_workflow, workflow_status
from quant_flows_dbos.engine import DbosEngine
from quant_flows_dbos.errors import RunHeldElsewhereError, VersionMismatchError, from_workflow
from quant_flows_dbos.identity import ProcessIdentity
from quant_flows_dbos.request import RunRequest
from quant_flows_dbos.settings import VERSIONED_PREFIX
from quant_flows_dbos.workflows import quant_run


def run_durably(engine: DbosEngine, request: RunRequest, *, accept_version_change: bool = False) -> RunContext:
    """Run `request` as its workflow (see the module) and give back the run's final context;
    raises the run's quant error when it failed.

    Interrupted (Ctrl-C) while it runs a workflow it started or continued, it cancels it: the
    process stops after the stage at hand, and `quant runs resume` continues the run from there."""
    status = workflow_status(DBOS, request.run_id, load=True)
    if status is None:
        _check_record(engine, request)
        with SetWorkflowID(request.run_id):
            handle = DBOS.start_workflow(quant_run, request.model_dump(mode="json"))
        ours = True
    else:
        _check_same_run(status, request)
        ours = _make_runnable(engine, status, accept_version_change)
        handle = DBOS.retrieve_workflow(request.run_id)
    try:
        output = handle.get_result()
    except KeyboardInterrupt:
        if ours:
            DBOS.cancel_workflow(request.run_id, cancel_children=True)
        raise
    except Exception as error:
        raised = from_workflow(error)
        if raised is error:
            raise
        raise raised from None
    return context_from_data(output)


def _check_record(engine: DbosEngine, request: RunRequest) -> None:
    """A run id whose record holds another request is refused before a workflow takes the id."""
    record = engine.runtime.record(request.run_id)
    if not record.exists():
        return
    recorded = record.read_manifest()
    asked = recorded.model_copy(
        update={
            "kind": request.kind, "target": request.target, "parent_run_id": request.parent_run_id,
            "profile": request.context.get("profile"), "params": request.params, "steps": request.steps,
        }
    )
    if not recorded.same_request(asked):
        raise _conflict(request.run_id, recorded.kind, recorded.target, "run record")


def _check_same_run(status: Any, request: RunRequest) -> None:
    recorded = RunRequest.model_validate(status.input["args"][0])
    if not recorded.same_run(request):
        raise _conflict(request.run_id, recorded.kind, recorded.target, "DBOS workflow")
    if request.force:
        raise ParamValidationError(
            f"run {request.run_id!r} already has a DBOS workflow ({status.status}), which goes on with "
            f"the settings it started with: to recompute every stage, start a new run with --force",
            param="force", value=True, rule="dbos-existing-run",
        )


def _conflict(run_id: str, kind: str, target: str, holder: str) -> RunConflictError:
    return RunConflictError(
        f"run id {run_id!r} already holds a {holder} of {kind} {target!r} with other settings; choose a "
        f"new run id (or resume it as it was with `quant runs resume {run_id}`)",
        param="run_id", value=run_id, rule="unique",
    )


def _make_runnable(engine: DbosEngine, status: Any, accept_version_change: bool) -> bool:
    """Get the workflow going if it is not; True when this process is to run it."""
    version = engine.settings.application_version
    if status.status == SUCCEEDED:
        return False
    if status.status not in ACTIVE:
        continue_workflow(DBOS, status.workflow_id, version)
        return True
    if status.app_version != version:
        if not accept_version_change:
            raise _version_mismatch(engine, status)
        continue_workflow(DBOS, status.workflow_id, version)
        return True
    if status.status == "PENDING":
        return _take_over_if_abandoned(engine, status)
    return True  # enqueued under this version: this process's queue takes it


def _take_over_if_abandoned(engine: DbosEngine, status: Any) -> bool:
    holder = ProcessIdentity.parse(status.executor_id)
    if holder == engine.identity:
        return True  # taken over at launch: it runs here
    if holder is not None and holder.host == engine.identity.host and not holder.is_gone():
        return False  # another process of this host runs it: wait for it
    if holder is not None and holder.is_gone():
        DBOS._recover_pending_workflows([status.executor_id])
        return True
    raise RunHeldElsewhereError(
        f"run {status.workflow_id!r} is pending on DBOS executor {status.executor_id!r}, which may "
        f"still be running it; if that process is gone, `quant runs cancel {status.workflow_id}` and "
        f"then `quant runs resume {status.workflow_id}` continue it here"
    )


def _version_mismatch(engine: DbosEngine, status: Any) -> VersionMismatchError:
    run_id = status.workflow_id
    changes = _quant_version_changes(engine, run_id)
    return VersionMismatchError(
        f"run {run_id!r} was left pending by quant application version {status.app_version}"
        f"{f' ({changes})' if changes else ''}; this process runs {engine.settings.application_version}, "
        f"and DBOS recovers a workflow only under the version that started it. Continue it under this "
        f"version (the steps it finished are kept and run nothing) with `quant runs resume {run_id} "
        f"--accept-version-change` (Python: executor_options={{'accept_version_change': True}})",
        run_id=run_id, pending_version=str(status.app_version),
        current_version=engine.settings.application_version,
    )


def _quant_version_changes(engine: DbosEngine, run_id: str) -> str:
    """`quant-core 0.1.0 -> 0.2.0, ...` from the run's manifest, when it has one."""
    record = engine.runtime.record(run_id)
    if not record.exists():
        return ""
    before = record.read_manifest().versions
    after = engine.runtime.versions
    names = sorted(n for n in {*before, *after} if n.startswith(VERSIONED_PREFIX) and before.get(n) != after.get(n))
    return ", ".join(f"{n} {before.get(n, '—')} -> {after.get(n, '—')}" for n in names)

