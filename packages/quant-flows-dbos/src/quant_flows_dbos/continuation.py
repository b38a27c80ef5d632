"""Continuing a run's workflow where it stopped, under the same workflow id.

A run whose workflow failed (a stage raised, a sleeve failed), was cancelled, or was left pending by
another application version is continued by rewinding it with DBOS (`rewind_workflow`) to the
first step that has to run again: everything before that step keeps its checkpoint and runs
nothing. Sleeves that did not succeed are continued the same way, on their run's queue, before
their parent. A pending workflow is cancelled first (DBOS rewinds only finished workflows).

Why a rewind and not `fork_workflow`: a fork is a new workflow with a new id, and the run id is
the workflow id (for the run, and for each sleeve, whose run id its parent's replay asks for).
A rewind keeps both; like a fork it re-executes nothing before the step it starts from.

Every function takes `api`: the `DBOS` class (in a process where quant launched DBOS) or a
`DBOSClient` (from a process that only looks, e.g. `quant runs cancel`); both answer the same calls.
"""

from __future__ import annotations

from typing import Any

from quant_flows_dbos.workflows import attempted_stage, sleeve_queue_name

ACTIVE = ("PENDING", "ENQUEUED", "DELAYED")
SUCCEEDED = "SUCCESS"


def workflow_status(api: Any, workflow_id: str, *, load: bool = False) -> Any | None:
    found = api.list_workflows(workflow_ids=[workflow_id], load_input=load, load_output=load)
    return found[0] if found else None


def continue_workflow(api: Any, workflow_id: str, version: str, queue_name: str | None = None) -> None:
    """Rewind `workflow_id` and its unfinished sleeves to where each must go on, under `version`."""
    status = workflow_status(api, workflow_id)
    if status is None or status.status == SUCCEEDED:
        return
    if status.status in ACTIVE:
        api.cancel_workflow(workflow_id)
    for child in api.list_workflows(parent_workflow_id=workflow_id, load_input=False, load_output=False):
        if child.status != SUCCEEDED:
            continue_workflow(api, child.workflow_id, version, sleeve_queue_name(workflow_id))
    start = resume_point(api.list_workflow_steps(workflow_id))
    api.rewind_workflow(workflow_id, start_step=start, application_version=version, queue_name=queue_name)


def resume_point(steps: list[dict[str, Any]]) -> int:
    """The first step to run again: the first attempt of the stage whose last attempt failed, the
    result of a sleeve that failed, any other failed step; else the one after the last recorded."""
    candidates = []
    attempts: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        stage = attempted_stage(step["function_name"])
        if stage is not None:
            attempts.setdefault(stage, []).append(step)
        elif step["error"] is not None:
            candidates.append(step["function_id"])
    for tried in attempts.values():
        if _attempt_failed(tried[-1]):
            candidates.append(tried[0]["function_id"])
    if candidates:
        return min(candidates)
    return max((s["function_id"] for s in steps), default=0) + 1


def _attempt_failed(step: dict[str, Any]) -> bool:
    output = step["output"]
    outcome = output.get("outcome") if isinstance(output, dict) else None
    return step["error"] is not None or (isinstance(outcome, dict) and outcome.get("error") is not None)
