"""`execute_stage_remote`: one stage attempt as one Ray task (`map_stages`, and the steps of a
pipeline outside any sleeve)."""

from __future__ import annotations

import ray

from quant_compute_ray.worker import RuntimeHandle, attempt_on_worker


# max_retries=0: a stage's own `retries` govern retries, decided by the driver exactly as the local
# executor decides them; Ray must not run an attempt again behind its back.
@ray.remote(max_retries=0)
def execute_stage_remote(runtime: RuntimeHandle, request: str) -> str:
    """Run the attempt described by `request` (JSON) and give back its outcome (JSON)."""
    return attempt_on_worker(runtime.resolve(), request)
