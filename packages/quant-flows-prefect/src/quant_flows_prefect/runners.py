"""The flow's task runner: Prefect's thread pool, or prefect-ray's `RayTaskRunner` on a Ray that
this process starts once and keeps.

prefect-ray 0.6 starts Ray in every flow run and shuts it down at the end, unless Ray is already
initialised in the process, in which case it uses that Ray and silently ignores its `address`.
`ProcessRayTaskRunner` makes sure Ray is initialised before prefect-ray looks (so Ray starts once
per process, not once per flow run), and refuses an address other than the one this process is
connected to instead of ignoring it.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect_ray import RayTaskRunner
from quant_core.errors import ParamValidationError

TASK_RUNNERS = ("thread", "ray")
#: Addresses that mean "whatever Ray this process has" rather than one cluster.
ANY_RAY = (None, "auto", "local")


def check_task_runner(task_runner: str, ray_address: str | None) -> None:
    if task_runner not in TASK_RUNNERS:
        raise ParamValidationError(
            f"executor prefect: task_runner={task_runner!r} is not one of {', '.join(TASK_RUNNERS)}",
            param="task_runner", value=task_runner, rule="enum",
        )
    if ray_address is not None and task_runner != "ray":
        raise ParamValidationError(
            f"executor prefect: ray_address={ray_address!r} is used only with task_runner='ray' "
            f"(--task-runner ray)",
            param="ray_address", value=ray_address, rule="requires task_runner=ray",
        )


def make_task_runner(task_runner: str, ray_address: str | None = None) -> TaskRunner[Any]:
    check_task_runner(task_runner, ray_address)
    if task_runner == "ray":
        return ProcessRayTaskRunner(address=ray_address)
    return ThreadPoolTaskRunner()


class ProcessRayTaskRunner(RayTaskRunner):
    """`RayTaskRunner` on the Ray of this process, started on first use and kept (Ray's own exit
    handler stops it with the process)."""

    def __enter__(self) -> ProcessRayTaskRunner:
        ensure_ray(self.address)
        return super().__enter__()


def ensure_ray(address: str | None) -> None:
    """Initialise Ray in this process unless it is: at `address`, else at `RAY_ADDRESS`, else a
    new local instance (never whatever cluster `/tmp/ray` last recorded). Already initialised,
    an `address` naming another cluster is an error, not ignored."""
    import ray

    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address not in ANY_RAY and address != current:
            raise ParamValidationError(
                f"ray_address={address!r}: this process is already connected to the Ray cluster at "
                f"{current!r}, where prefect-ray would run the tasks; give that address (or none), or "
                f"start the run in a new process",
                param="ray_address", value=address, rule="one Ray per process",
            )
        return
    chosen = address or os.environ.get("RAY_ADDRESS") or "local"
    if chosen == "local":
        ray.init(address="local", include_dashboard=False)
    else:
        ray.init(address=chosen)
