"""The package's contract with the rest of quant: found through the `quant.executors` entry point,
never importing quant-stages (stages and pipelines come from the registry it is handed), and
`selection_workflow(run_id, profile)`, generated from `selection.full`'s spec like any pipeline's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dbos import DBOS
from quant_core import QuantSDK
from quant_core.registry import StageRegistry
from quant_flows_dbos import DbosExecutor, pipeline_workflow, selection_workflow
from quant_flows_dbos.continuation import workflow_status

IMPORTS = """
import json, sys
import quant_flows_dbos, quant_flows_dbos.operations, quant_flows_dbos.runs, quant_flows_dbos.testing
print(json.dumps(sorted(m for m in ("dbos", "quant_stages", "numpy", "pandas") if m in sys.modules)))
"""


def test_no_quant_stages_import() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["dbos"]  # and neither quant-stages nor the numerical stack


def test_the_executor_is_the_dbos_entry_point() -> None:
    assert StageRegistry.from_entry_points().executor_factory("dbos") is DbosExecutor


def test_selection_workflow_runs_selection_full_durably(kit, sqlite_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    kit.write_tiny_profiles(home)
    sdk = QuantSDK(home=home)
    result = selection_workflow("selection-1", "tiny_sleeve", sdk=sdk, dbos_database_url=sqlite_url)
    assert (result.target, result.manifest.executor, result.status) == ("selection.full", "dbos", "succeeded")
    assert [e.stage_id for e in result.ledger] == [
        s.stage for s in sdk.registry.flatten("selection.full")  # the pipeline's own steps, in order
    ]
    assert result.context.winners
    assert workflow_status(DBOS, "selection-1").status == "SUCCESS"
    assert selection_workflow.__name__ == "selection_full_workflow"
    assert pipeline_workflow("portfolio.full").__name__ == "portfolio_full_workflow"
