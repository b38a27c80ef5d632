"""quant_compute_ray: quant's pipelines, stages and sleeves on Ray.

    from quant_compute_ray import RayComputeEngine
    with RayComputeEngine(address="10.0.0.5:6379") as engine:   # or no address: a local Ray
        engine.run_pipeline(spec, context, params)

or simply `quant pipeline run meta.full --profile demo --executor ray [--ray-address ADDR]`.
"""

import os

# Before anything here imports Ray. Under `uv run`, Ray 2.60 by default makes every worker
# re-create the driver's project environment with `uv run` in a copy of the working directory:
# in a uv workspace that is a fresh environment without the extras (without Ray itself), and its
# workers fail to start for minutes. quant's workers use the driver's interpreter on a local Ray
# and the cluster's own when joining one; a user who wants Ray's hook sets the variable to 1.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

from quant_compute_ray.actors import SleeveActor, SleeveResources  # noqa: E402
from quant_compute_ray.connection import RayConnection  # noqa: E402
from quant_compute_ray.engine import RayComputeEngine  # noqa: E402
from quant_compute_ray.errors import RayClusterError, RunInterrupted  # noqa: E402
from quant_compute_ray.tasks import execute_stage_remote  # noqa: E402

__all__ = [
    "RayClusterError",
    "RayComputeEngine",
    "RayConnection",
    "RunInterrupted",
    "SleeveActor",
    "SleeveResources",
    "execute_stage_remote",
]
