"""quant's DBOS in this process: launched once, with one system database, application and version.

DBOS is a singleton per process (`DBOS(config=...)`, `DBOS.launch()`, `DBOS.destroy()`), and the
workflows it recovers or dequeues run in its threads with nothing but their recorded JSON input.
So this module holds the one piece of process state quant needs next to it: the `Runtime`
(registry, home, versions) those workflows run with, bound when an executor launches DBOS or
joins it. Nothing else of quant's is global; `shutdown()` destroys DBOS and drops the binding
(tests call it between tests, an application at exit).

On launch DBOS recovers the pending workflows of its own executor id. quant's executor ids are per
process (see `identity`), so this module then recovers those of the processes of this host that
died, under the same application version, and the executor waits for them after its own run:
any `--executor dbos` command finishes the runs a crash left behind. Runs pending under another
version wait for a resume that accepts the version change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any

from dbos import DBOS, DBOSConfig, DBOSPortableJSONSerializer
from quant_core.execution import Runtime
from quant_core.stores.location import StoreLocation

from quant_flows_dbos.drain import Drain
from quant_flows_dbos.errors import EngineConflictError, WorkflowFailure
from quant_flows_dbos.identity import ProcessIdentity
from quant_flows_dbos.settings import DbosSettings

#: DBOS logs to stderr itself: only what needs a look.
LOG_LEVEL = "WARNING"
DBOS_CONSOLE_HANDLER = "__dbos_console_log_handler__"


class QuantFailureFilter(logging.Filter):
    """DBOS logs every workflow that raises, with its traceback. A quant run's failure is reported
    by quant itself, once, as one line with its exit code: DBOS's copy of it is dropped (every
    other DBOS warning and error still shows)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, WorkflowFailure)


class DbosEngine:
    """DBOS launched by quant in this process, and the runtime its workflows run with."""

    def __init__(
        self, settings: DbosSettings, runtime: Runtime, identity: ProcessIdentity, recovered: list[str]
    ) -> None:
        self.settings = settings
        self.identity = identity
        self._runtime = runtime
        #: Runs left pending by processes of this host that died, taken over at launch.
        self.recovered = recovered
        #: Where this process's workflows stop when it is asked to (a worker's SIGTERM).
        self.drain = Drain()

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def runtime_for(self, home: str, force: bool, store: Mapping[str, Any] | None = None) -> Runtime:
        """The runtime a workflow of `home` runs with: its `force` as the run was started, and the
        store the driver handed over in the workflow's input (not this process's own setting)."""
        if home != str(self._runtime.home.root):
            raise EngineConflictError(
                f"a DBOS workflow of the QuantHome {home} reached the process serving "
                f"{self._runtime.home.root}; each home is its own DBOS application"
            )
        runtime = self._runtime if self._runtime.force == force else dataclasses.replace(self._runtime, force=force)
        if store is not None:
            location = StoreLocation.from_json(store)
            if location != runtime.home.store_location:
                runtime = dataclasses.replace(runtime, home=dataclasses.replace(runtime.home, store=location))
        return runtime

    def take_over_abandoned(self) -> list[str]:
        """Take over the runs pending on processes of this host that died since launch (a
        long-running worker asks now and then); their workflow ids."""
        return _recover_dead_local_executors(self.settings)

    def finish_recovered(self) -> None:
        """Wait for the runs this process took over at launch (once): the command that recovered a
        crashed run finishes it. Their outcomes are in their own records."""
        recovered, self.recovered = self.recovered, []
        for workflow_id in recovered:
            with contextlib.suppress(Exception):  # a failed run is recorded as failed where it ran
                DBOS.retrieve_workflow(workflow_id).get_result()

    def describe(self) -> dict[str, Any]:
        """What a run's manifest records about where DBOS keeps it."""
        return {
            "system_database": self.settings.database,
            "application_name": self.settings.application_name,
            "application_version": self.settings.application_version,
            "executor_id": self.identity.executor_id,
        }


_lock = threading.Lock()
_engine: DbosEngine | None = None


def engine_for(runtime: Runtime, settings: DbosSettings) -> DbosEngine:
    """quant's DBOS for `settings`, launched on first use; a later executor of the same home binds
    its runtime (a new registry, say) for the workflows started from then on."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = _launch(runtime, settings)
        elif _engine.settings != settings:
            raise EngineConflictError(
                f"DBOS runs in this process with {_describe(_engine.settings)}; this executor needs "
                f"{_describe(settings)}. DBOS is one per process: call quant_flows_dbos.shutdown() "
                f"first, or run this in another process"
            )
        else:
            _engine._runtime = runtime
        return _engine


def current_engine() -> DbosEngine:
    if _engine is None:
        raise EngineConflictError(
            "a quant workflow ran in a process where quant did not launch DBOS: launch it through "
            "the dbos executor (QuantSDK().executor('dbos')) before DBOS.launch() of your own"
        )
    return _engine


def launched() -> bool:
    """Whether quant's DBOS runs in this process."""
    return _engine is not None


def shutdown() -> None:
    """Destroy the DBOS quant launched in this process, if any (workflows still running in it stop
    where they are and are recovered by the next launch)."""
    global _engine
    with _lock:
        if _engine is not None:
            DBOS.destroy()
            _engine = None


def _launch(runtime: Runtime, settings: DbosSettings) -> DbosEngine:
    # The workflow functions must be registered before launch, or recovery cannot find them.
    from quant_flows_dbos import workflows  # noqa: F401

    if _foreign_dbos():
        raise EngineConflictError(
            "DBOS was created in this process by something other than quant; quant launches its "
            "own DBOS (one per process): use a separate process for quant runs"
        )
    _prepare_dbos_logger()
    identity = ProcessIdentity.current()
    config: DBOSConfig = {
        "name": settings.application_name,
        "system_database_url": settings.database_url,
        "application_version": settings.application_version,
        "executor_id": identity.executor_id,
        # Inputs, outputs, errors and step checkpoints as JSON: nothing pickled in the database.
        "serializer": DBOSPortableJSONSerializer(),
        "log_level": LOG_LEVEL,
    }
    DBOS(config=config)
    try:
        DBOS.launch()
        recovered = _recover_dead_local_executors(settings)
    except BaseException:
        DBOS.destroy()
        raise
    return DbosEngine(settings, runtime, identity, recovered)


def _prepare_dbos_logger() -> None:
    dbos_logger = logging.getLogger("dbos")
    if not any(isinstance(f, QuantFailureFilter) for f in dbos_logger.filters):
        dbos_logger.addFilter(QuantFailureFilter())
    # DBOS creates its console handler once per process, on the stderr of that moment, and keeps
    # it across destroy and launch: point it at this launch's stderr (which a caller such as a
    # test runner may have replaced, and closed, since).
    for handler in dbos_logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.name == DBOS_CONSOLE_HANDLER:
            with handler.lock or contextlib.nullcontext():
                handler.stream = sys.stderr  # not setStream: it flushes the old, maybe closed, stream


def _recover_dead_local_executors(settings: DbosSettings) -> list[str]:
    """Take over the workflows pending on processes of this host that are gone; their ids."""
    pending = DBOS.list_workflows(
        status="PENDING", app_version=settings.application_version, load_input=False, load_output=False
    )
    abandoned = [
        status for status in pending
        if (holder := ProcessIdentity.parse(status.executor_id)) is not None and holder.is_gone()
    ]
    if not abandoned:
        return []
    # DBOS's own recovery, for the executors named: it re-enqueues each workflow only if that
    # executor still holds it, so two processes recovering at once cannot both run it.
    DBOS._recover_pending_workflows(sorted({status.executor_id for status in abandoned}))
    return [status.workflow_id for status in abandoned]


def _foreign_dbos() -> bool:
    from dbos import _dbos  # the singleton's slot: DBOS offers no public "is one created?"

    return _dbos._dbos_global_instance is not None


def _describe(settings: DbosSettings) -> str:
    return (
        f"system database {settings.database}, application {settings.application_name} "
        f"version {settings.application_version}"
    )
