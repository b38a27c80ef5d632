"""Starting a run with the run id chosen up front, so progress can follow its record."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from quant_core.context import MetaContext
from quant_core.planning import sleeve_count
from quant_core.errors import QuantError
from quant_core.pipeline import FanOutStep, RunnableStep, StageStep
from quant_core.registry import StageRegistry
from quant_core.sdk import PipelinePlan, RunResult

from quant_cli.progress import LedgerFollower, RunProgress
from quant_cli.state import CliState


def planned_total(registry: StageRegistry, plan: PipelinePlan) -> int:
    """How many stage attempts a successful run of `plan` makes (the progress bar's length)."""
    sleeves = sleeve_count(plan.context) if isinstance(plan.context, MetaContext) else 0
    return planned_stage_count(registry, plan.spec.steps, sleeves)


def planned_stage_count(registry: StageRegistry, steps: Sequence[RunnableStep], sleeve_count: int) -> int:
    """How many stage attempts a successful run makes: a fan-out runs its branch once per sleeve."""
    count = 0
    for step in steps:
        if isinstance(step, StageStep):
            count += 1
        elif isinstance(step, FanOutStep):
            branch = registry.flatten(step.pipeline)
            count += sleeve_count * sum(1 for s in branch if isinstance(s, StageStep))
    return count


def run_with_progress(
    state: CliState,
    run_id: str,
    start: Callable[[], RunResult],
    *,
    title: str,
    total: int | None = None,
) -> RunResult:
    """Call `start` (which runs `run_id`), showing progress on stderr unless `--json` is on.

    Then, run or fail, the run's spans are exported and its metrics pushed when telemetry says
    so: a short CLI process would otherwise end before its batch exporter does."""
    state.run_id = run_id
    try:
        if state.json_output:
            result = start()
        else:
            follower = LedgerFollower(state.sdk().home.runs_dir, run_id)
            with RunProgress(state.err, follower, title=title, total=total):
                result = start()
    except BaseException:
        # The run's own error is the one to report; an export failure on top is a note.
        try:
            state.sdk().telemetry.flush(run_id=run_id)
        except QuantError as export:
            state.err.print(f"note: {export}", markup=False, highlight=False)
        raise
    state.sdk().telemetry.flush(run_id=run_id)
    return result
