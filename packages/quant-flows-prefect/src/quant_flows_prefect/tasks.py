"""One Prefect task per stage: its retries, its cache key and where Prefect persists its result.

- Name: the stage id (the task run name adds the sleeve when the stage runs inside one).
- Retries: the stage's `retries`, waiting `quant_core.execution.retry_delay` (the exponential
  backoff every executor uses) with Prefect's jitter; only transient failures are retried.
- Cache: the key is quant's content key of the stage on its input (`prepare_stage`), so a
  Prefect hit and a quant cache hit are the same event. Prefect persists the task's result, the
  attempts' small JSON outcomes, as JSON under `$QUANT_HOME/prefect/results`, next to the store
  it refers to: never a pickle, never a DataFrame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import Task
from prefect.cache_policies import CachePolicy
from quant_core.execution import Runtime, retry_delay
from quant_core.home import QuantHome
from quant_core.stage import StageSpec

from quant_flows_prefect.attempts import StageAttempts, retry_if_retryable

#: Prefect's clamped Poisson jitter: each retry waits on average the backoff delay and at most
#: 1.5 times it, so sleeves that failed together on a shared resource do not retry in lockstep.
RETRY_JITTER_FACTOR = 0.5


class QuantCacheKey(CachePolicy):
    """The task's cache key is quant's content key (stage id and version, normalised params,
    the input context's data, the stage's extra inputs), computed by the driver before submit."""

    def compute_key(
        self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
    ) -> str | None:
        attempts = task_ctx.task.fn
        return attempts.cache_key if isinstance(attempts, StageAttempts) else None


def results_dir(home: QuantHome) -> Path:
    return home.root / "prefect" / "results"


def stage_task(
    runtime: Runtime,
    spec: StageSpec,
    *,
    run_id: str,
    step: int,
    params: dict[str, Any],
    cache_key: str,
    run_name: str,
    refresh_cache: bool = False,
    on_ray: bool = False,
    traceparent: str | None = None,
) -> Task[..., dict[str, Any]]:
    """The task for one stage of one run (built per run: its function keeps that task run's
    attempts). `refresh_cache` recomputes and overwrites Prefect's entry; `traceparent` is the
    run's span, the parent of each attempt's."""
    attempts = StageAttempts(
        runtime, run_id=run_id, step=step, stage_id=spec.id, params=params, cache_key=cache_key,
        on_ray=on_ray, traceparent=traceparent,
    )
    return Task(
        fn=attempts,
        name=spec.id,
        description=spec.description,
        version=spec.version,
        task_run_name=run_name,
        retries=spec.retries,
        retry_delay_seconds=[retry_delay(spec.retry_delay_s, n) for n in range(1, spec.retries + 1)] or None,
        retry_jitter_factor=RETRY_JITTER_FACTOR,
        retry_condition_fn=retry_if_retryable,
        cache_policy=QuantCacheKey(),
        refresh_cache=refresh_cache or runtime.force,
        persist_result=True,
        result_storage=results_dir(runtime.home),
        result_serializer="json",
    )
