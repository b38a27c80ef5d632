"""quant-flows-dbos: every quant run a DBOS durable workflow (one step per stage attempt, workflow
id = run id), so a crashed run resumes where it stopped and a finished stage never runs again.

Importing it imports DBOS, never quant-stages: stages and pipelines come from the registry the
executor is handed.
"""

from quant_flows_dbos.engine import shutdown
from quant_flows_dbos.errors import EngineConflictError, RunHeldElsewhereError, VersionMismatchError
from quant_flows_dbos.executor import DbosExecutor, pipeline_workflow, selection_workflow
from quant_flows_dbos.settings import DbosSettings

__all__ = [
    "DbosExecutor",
    "DbosSettings",
    "EngineConflictError",
    "RunHeldElsewhereError",
    "VersionMismatchError",
    "pipeline_workflow",
    "selection_workflow",
    "shutdown",
]
