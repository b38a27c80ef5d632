"""The `ray` executor, as the `quant.executors` entry point builds it: `factory(runtime, **options)`
with the options `--ray-address` and `QuantSDK.executor("ray", ...)` give."""

from __future__ import annotations

from quant_core.execution import Runtime

from quant_compute_ray.actors import SleeveResources
from quant_compute_ray.engine import RayComputeEngine


def factory(
    runtime: Runtime,
    *,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    sleeve_num_cpus: float = 1.0,
    sleeve_memory_mb: int | None = None,
    sleeve_resources: dict[str, float] | None = None,
) -> RayComputeEngine:
    """`ray_address`: the cluster to join (default `RAY_ADDRESS`, else the Ray this process holds,
    else a local Ray started for the run); `num_cpus`: that local Ray's CPUs (default: all);
    `sleeve_num_cpus` / `sleeve_memory_mb` / `sleeve_resources` (custom resources, to pin sleeves
    to the nodes that have them): what each sleeve's actor reserves."""
    return RayComputeEngine(
        ray_address, num_cpus, runtime=runtime,
        sleeve_resources=SleeveResources(
            num_cpus=sleeve_num_cpus, memory_mb=sleeve_memory_mb, resources=tuple(sorted((sleeve_resources or {}).items()))
        ),
    )
