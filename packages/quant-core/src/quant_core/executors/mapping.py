"""`Executor.map` semantics shared by every executor: each context is its own run, and every run
finishes before the failures are raised together."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from quant_core.context import RunContext
from quant_core.errors import ParamValidationError, StageFailedError


def map_each(
    stage_id: str, contexts: Sequence[RunContext], run_one: Callable[[RunContext], RunContext]
) -> list[RunContext]:
    """`run_one` on every context, in order; then raise: one run's error as it is (a bad
    parameter stays a parameter error), several runs' errors as one `StageFailedError` naming
    each run."""
    outputs: list[RunContext] = []
    failures: list[tuple[str, StageFailedError | ParamValidationError]] = []
    for context in contexts:
        try:
            outputs.append(run_one(context))
        except (StageFailedError, ParamValidationError) as exc:
            failures.append((context.run_id, exc))
    if len(failures) == 1 and len(contexts) == 1:
        raise failures[0][1]
    if failures:
        raise StageFailedError(
            stage_id,
            ",".join(run_id for run_id, _ in failures),
            "; ".join(
                f"{run_id}: {exc.cause if isinstance(exc, StageFailedError) else exc}"
                for run_id, exc in failures
            ),
        )
    return outputs
