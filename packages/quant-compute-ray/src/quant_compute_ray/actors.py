"""`SleeveActor`: one actor per sleeve, which runs that sleeve's stages one after another in one
worker process (its imports, decoded artifacts and warm caches stay with the sleeve).

The driver still drives: it sends each attempt, records its outcome in the sleeve's run as soon as
it comes back, and decides retries. So an actor that dies loses only the attempt it was running,
and the sleeve's record shows every step that finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray
from quant_core.errors import ParamValidationError

from quant_compute_ray.worker import RuntimeHandle, attempt_on_worker, worker_identity

#: Bytes in one MiB (Ray's `memory` resource is in bytes).
MIB = 1 << 20


@dataclass(frozen=True)
class SleeveResources:
    """What each sleeve actor reserves: one CPU by default (two sleeves at once on two cores) and,
    optionally, memory in MiB (Ray then places the actor only where that much is free)."""

    num_cpus: float = 1.0
    memory_mb: int | None = None
    #: Custom resources each sleeve actor needs, e.g. {"gpu_node": 1}: Ray then places sleeves only
    #: on nodes started with that resource (`ray start --resources '{"gpu_node": 4}'`).
    resources: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        for name, amount in self.resources:
            if not amount > 0:
                raise ParamValidationError(
                    f"executor ray: sleeve_resources[{name!r}]={amount} must be above 0",
                    param="sleeve_resources", value=amount, rule="exclusiveMinimum",
                )
        if not self.num_cpus > 0:
            raise ParamValidationError(
                f"executor ray: sleeve_num_cpus={self.num_cpus} must be above 0",
                param="sleeve_num_cpus", value=self.num_cpus, rule="exclusiveMinimum",
            )
        if self.memory_mb is not None and self.memory_mb < 1:
            raise ParamValidationError(
                f"executor ray: sleeve_memory_mb={self.memory_mb} must be at least 1",
                param="sleeve_memory_mb", value=self.memory_mb, rule="minimum",
            )

    def check_fits(self, cluster: dict[str, float]) -> None:
        """Refuse a reservation the whole cluster (`ray.cluster_resources()`) cannot give: Ray would
        otherwise keep the sleeve's actor pending for ever, without an error."""
        cpus = cluster.get("CPU", 0.0)
        if self.num_cpus > cpus:
            raise ParamValidationError(
                f"executor ray: sleeve_num_cpus={self.num_cpus} is more than the {cpus:g} CPUs of the whole "
                f"cluster: no sleeve actor could start",
                param="sleeve_num_cpus", value=self.num_cpus, rule="fits-cluster",
            )
        memory_mb = cluster.get("memory", 0.0) / MIB
        if self.memory_mb is not None and self.memory_mb > memory_mb:
            raise ParamValidationError(
                f"executor ray: sleeve_memory_mb={self.memory_mb} is more than the {memory_mb:.0f} MiB the "
                f"cluster offers in all: no sleeve actor could start",
                param="sleeve_memory_mb", value=self.memory_mb, rule="fits-cluster",
            )

    def actor_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.num_cpus}
        if self.memory_mb is not None:
            options["memory"] = self.memory_mb * MIB
        if self.resources:
            options["resources"] = dict(self.resources)
        return options


# A dead sleeve actor is that sleeve's failure, reported by the gate: never restarted behind the
# driver's back (max_restarts=0), and its calls never replayed (max_task_retries=0).
@ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)
class SleeveActor:
    """Runs one sleeve's stage attempts (requests and outcomes as JSON)."""

    def __init__(self, runtime: RuntimeHandle) -> None:
        self._runtime = runtime.resolve()

    def identity(self) -> dict[str, Any]:
        """Node id, worker id and process id of this actor."""
        return worker_identity()

    def run_attempt(self, request: str) -> str:
        return attempt_on_worker(self._runtime, request)
