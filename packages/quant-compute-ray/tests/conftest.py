"""One real local Ray for the whole test session (2 CPUs, no dashboard, its own short temp dir),
and small test stages that travel to Ray's workers by value.

Test modules cannot import each other (importlib mode): what several need lives here.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import quant_compute_ray  # noqa: F401  (first: it configures Ray before Ray is imported)
import ray
from quant_compute_ray.executor import factory as ray_factory
from quant_core import QuantSDK, RunContext, SelectionContext, SleeveSpec
from quant_core.errors import DataValidationError
from quant_core.pipeline import FanOutStep, PipelineSpec
from quant_core.profiles import ResolvedProfile
from quant_core.registry import StageRegistry
from quant_core.stage import Stage, StageParams
from quant_core.testing import ToyProfiles, toy_profiles, toy_registry

#: Generous: a loaded 2-core machine starts a Ray worker in seconds, not milliseconds.
START_TIMEOUT_S = 120.0


class Crash(Stage[SelectionContext]):
    """Kills its own process (`os._exit`) when `exit` is set: an actor or worker dying mid-sleeve."""

    id = "test.crash"
    tags = ("test",)
    context_type = SelectionContext

    class Params(StageParams):
        exit: bool = False

    def execute(self, context: SelectionContext) -> SelectionContext:
        if self.params.exit:
            os._exit(3)
        return context.model_copy(update={"params": {**context.params, "crash": "spared"}})


class RejectData(Stage[RunContext]):
    """A user error (bad data): never retried, whatever `retries` says."""

    id = "test.reject_data"
    tags = ("test",)
    retries = 2
    retry_delay_s = 0.0

    def execute(self, context: RunContext) -> RunContext:
        raise DataValidationError("no returns at all", source="market.csv", rule="non-empty")


TEST_STAGES = (Crash, RejectData)
CRASHY_PORTFOLIO = PipelineSpec.of("crashy.portfolio", "toy.seed", "test.crash", "toy.scale", "toy.sum")
CRASHY_META = PipelineSpec.of("crashy.meta", FanOutStep(pipeline="crashy.portfolio"), "toy.meta_total", context_kind="meta")

# Ray's workers cannot import a test module (importlib mode puts none on sys.path): the stage
# classes above travel by value instead, as a notebook's would.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def registry_with_test_stages() -> StageRegistry:
    """The toy stages and pipelines of quant_core.testing, these test stages, and the ray executor."""
    registry = toy_registry()
    for stage in TEST_STAGES:
        registry.register(stage)
    for pipeline in (CRASHY_PORTFOLIO, CRASHY_META):
        registry.register_pipeline(pipeline)
    registry.register_executor("ray", ray_factory)
    return registry


def profiles_with_crashes(failing_sleeves: tuple[str, ...] = (), crashing_sleeves: tuple[str, ...] = ()) -> ToyProfiles:
    """toy_profiles(), plus `crash_trio`: the three sleeves of `trio`, those named in
    `crashing_sleeves` killing their actor in `test.crash`."""
    profiles = toy_profiles(failing_sleeves)
    trio = profiles.profiles["trio"]
    sleeves = [
        SleeveSpec(
            name=s.name, profile=s.profile,
            stage_params={**s.stage_params, "test.crash": {"exit": s.name in crashing_sleeves}},
        )
        for s in trio.sleeves
    ]
    profiles.profiles["crash_trio"] = ResolvedProfile(name="crash_trio", kind="meta", sleeves=sleeves)
    return profiles


@pytest.fixture(scope="session")
def span_receiver() -> Iterator[Any]:
    """An OTLP/HTTP receiver on loopback for the session, where the session Ray's workers export
    the spans of traced runs (None without quant-core[otlp]: nothing is traced then)."""
    try:
        # the workers' exporter, not only the receiver's protobufs (Ray brings those along)
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        from quant_core.testing_spans import OtlpReceiver

        receiver = OtlpReceiver()
    except ImportError:
        yield None
        return
    yield receiver
    receiver.close()


#: How soon a worker's batch span processor exports (ms): tests wait for the spans.
SPAN_EXPORT_DELAY_MS = "100"


@pytest.fixture(scope="session")
def ray_address(span_receiver: Any) -> Iterator[str]:
    """The session's local Ray (the caller's Ray, from quant's point of view): its GCS address.
    Its workers export spans to `span_receiver` as a deployment's would to a collector, through
    OpenTelemetry's settings in the job's runtime_env; only a run traced on the driver makes any."""
    temp_dir = tempfile.mkdtemp(prefix="rq", dir="/tmp")  # short: Ray's socket paths must fit
    if ray.is_initialized():
        # Another package's session Ray (the Prefect tests start one whose workers carry their
        # Prefect server's settings): its tests are done, since pytest runs a folder's together.
        ray.shutdown()
    env_vars = {} if span_receiver is None else {
        "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": span_receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": SPAN_EXPORT_DELAY_MS, "OTEL_SERVICE_NAME": "quant-ray-worker",
    }
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False,
        runtime_env={"env_vars": env_vars} if env_vars else None,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)  # Ray's processes may still be flushing logs


@pytest.fixture
def make_sdk(tmp_path: Path, ray_address: str):
    """`make_sdk(name="home", **profile_options)`: an SDK on its own QuantHome with the test registry."""

    def make(name: str = "home", **profile_options) -> QuantSDK:
        return QuantSDK(
            home=tmp_path / name, registry=registry_with_test_stages(), profiles=profiles_with_crashes(**profile_options), versions={}
        )

    return make
