"""DBOS's view of quant runs, from a process that does not run them (`quant runs list`, `show`,
`cancel`): a `DBOSClient` on the system database, which never launches DBOS and so never recovers
or executes anything.

The system database of a run: the one given, else `DBOS_SYSTEM_DATABASE_URL`, else the one its
manifest records (unless its password was masked there), else SQLite under the home.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dbos import DBOSClient, DBOSPortableJSONSerializer
from quant_core.home import QuantHome
from quant_core.records import RunManifest

from quant_flows_dbos.continuation import ACTIVE, workflow_status
from quant_flows_dbos.errors import DbosBackendError
from quant_flows_dbos.settings import DATABASE_URL_ENV, application_name, redact, resolve_database_url

EXECUTOR = "dbos"


def is_dbos_run(manifest: RunManifest) -> bool:
    return manifest.executor == EXECUTOR


def database_of(
    home: QuantHome, manifest: RunManifest, given: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The system database holding `manifest`'s workflow (see the module)."""
    environ = os.environ if environ is None else environ
    recorded = manifest.engine.get("system_database")
    chosen = given or environ.get(DATABASE_URL_ENV)
    if chosen is None and isinstance(recorded, str):
        if redact(recorded) != recorded:
            raise DbosBackendError(
                f"run {manifest.run_id!r} ran on the DBOS system database {recorded}, whose password is "
                f"not kept: give it with --dbos-database-url or {DATABASE_URL_ENV}"
            )
        chosen = recorded
    return resolve_database_url(home, chosen, environ)


@contextmanager
def dbos_client(home: QuantHome, database_url: str) -> Iterator[DBOSClient]:
    client = DBOSClient(
        system_database_url=database_url, serializer=DBOSPortableJSONSerializer(),
        application_name=application_name(home), retry_connection_errors=False,
    )
    try:
        yield client
    finally:
        client.destroy()


def workflow_states(
    home: QuantHome, manifests: Iterable[RunManifest], given: str | None = None
) -> dict[str, dict[str, Any]]:
    """DBOS's state of each DBOS run among `manifests`, by run id: `{"status", "pending",
    "application_version", "executor_id"}` (runs DBOS does not know are left out)."""
    by_database: dict[str, list[str]] = {}
    for manifest in manifests:
        if is_dbos_run(manifest):
            try:
                url = database_of(home, manifest, given)
            except DbosBackendError:  # a listing shows what it can; `show` and `cancel` say why
                continue
            by_database.setdefault(url, []).append(manifest.run_id)
    states: dict[str, dict[str, Any]] = {}
    for url, run_ids in by_database.items():
        with dbos_client(home, url) as client:
            for status in client.list_workflows(workflow_ids=run_ids, load_input=False, load_output=False):
                states[status.workflow_id] = state_of(status)
    return states


def state_of(status: Any) -> dict[str, Any]:
    return {
        "status": status.status,
        "pending": status.status in ACTIVE,
        "application_version": status.app_version,
        "executor_id": status.executor_id,
    }


def cancel_run(home: QuantHome, manifest: RunManifest, given: str | None = None) -> dict[str, Any]:
    """Cancel a run's pending workflow and its pending sleeves; their finished steps stay, and
    `quant runs resume` continues them. Gives the workflow's state after."""
    if not is_dbos_run(manifest):
        raise DbosBackendError(
            f"run {manifest.run_id!r} ran on executor {manifest.executor!r}: only a DBOS run's workflow "
            f"can be cancelled (a local run stops with its process)"
        )
    url = database_of(home, manifest, given)
    with dbos_client(home, url) as client:
        status = workflow_status(client, manifest.run_id)
        if status is None:
            raise DbosBackendError(f"run {manifest.run_id!r} has no DBOS workflow in {redact(url)}")
        if status.status not in ACTIVE:
            raise DbosBackendError(
                f"run {manifest.run_id!r} is not pending in DBOS (its workflow is {status.status}): nothing to cancel"
            )
        client.cancel_workflow(manifest.run_id, cancel_children=True)
        return state_of(workflow_status(client, manifest.run_id))

