"""A real Prefect server for the session, and quant SDKs that run on it.

One `prefect server start` on 127.0.0.1 (a free port, a temporary PREFECT_HOME, analytics off),
health-polled, stopped by its process group id at the end (`quant_flows_prefect.testing`). The
test process talks to it through Prefect settings (heartbeats off: a flow would otherwise wait
about a second for its heartbeat thread); subprocesses and Ray workers get the same through the
environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from quant_core import QuantSDK
from quant_core.config import QuantConfig
from quant_core.context import RunContext, SelectionContext
from quant_core.errors import DataValidationError
from quant_core.pipeline import PipelineSpec
from quant_core.profiles import ProfileCatalog
from quant_core.registry import StageRegistry
from quant_core.stage import Stage, StageParams
from quant_core.testing import GATED, MarkerGate, toy_profiles, toy_registry
from quant_flows_prefect.testing import LocalPrefectServer, local_prefect_server, stop_process_group, talking_to


@pytest.fixture
def spawn() -> Iterator[Any]:
    """`spawn(command, **popen_options)`: a subprocess in a process group of its own, stopped
    with everything it started at the end of the test."""
    started: list[subprocess.Popen[Any]] = []

    def start(command: list[str], **options: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(command, start_new_session=True, **options)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process_group(process)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    with local_prefect_server(tmp_path_factory.mktemp("prefect-home")) as server:
        saved = {name: os.environ.get(name) for name in server.environ()}
        os.environ.update(server.environ())  # for subprocesses and Ray workers
        try:
            with talking_to(server):
                yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(scope="session")
def ray_cluster(prefect_server: LocalPrefectServer) -> Iterator[str]:
    """One local Ray for the session (its workers inherit the Prefect server's environment),
    stopped at the end since this process started it. Gives its GCS address."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        # Another package's session Ray (the Ray backend's tests): its workers lack this session's
        # Prefect settings, and its tests are done, since pytest runs a folder's tests together.
        ray.shutdown()
    temp_dir = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths must fit
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp_dir)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


# -- toy stages for retries and user errors ---------------------------------------------------


class FlakyTwice(Stage[RunContext]):
    """Fails its first two attempts (counted in the file `counter`), then succeeds."""

    id = "test.flaky_twice"
    retries = 2
    retry_delay_s = 0.05

    class Params(StageParams):
        counter: str

    def execute(self, context: RunContext) -> RunContext:
        counter = Path(self.params.counter)
        failures = int(counter.read_text()) if counter.exists() else 0
        if failures < 2:
            counter.write_text(str(failures + 1))
            raise ConnectionError(f"transient failure {failures + 1} of 2")
        return context.model_copy(update={"params": {**context.params, "flaky": "ok"}})


class RejectsData(Stage[SelectionContext]):
    """Always finds its input data bad: a user error, never worth a retry."""

    id = "test.rejects_data"
    context_type = SelectionContext
    retries = 3
    retry_delay_s = 0.05

    def execute(self, context: SelectionContext) -> SelectionContext:
        raise DataValidationError("no finite returns", source="returns.csv", column="BTC", rule="finite")


FLAKY = PipelineSpec.of(
    "test.flaky", "toy.noop", {"stage": "test.flaky_twice", "params": {"counter": "/nonexistent/counter"}},
    context_kind="run",
)
REJECTS = PipelineSpec.of("test.rejects", "toy.seed", "test.rejects_data")


def prefect_test_registry() -> StageRegistry:
    from quant_flows_prefect.executor import factory

    registry = toy_registry()
    registry.register(FlakyTwice)
    registry.register(RejectsData)
    registry.register(MarkerGate)
    registry.register_pipeline(GATED)
    registry.register_pipeline(FLAKY)
    registry.register_pipeline(REJECTS)
    registry.register_executor("prefect", factory)
    return registry


def toy_sdk(home: Path, *, failing_sleeves: tuple[str, ...] = (), config: QuantConfig | None = None) -> QuantSDK:
    return QuantSDK(
        home=home, registry=prefect_test_registry(),
        profiles=ProfileCatalog([toy_profiles(failing_sleeves)]), versions={"quant-core": "test"}, config=config,
    )


@pytest.fixture
def make_sdk(prefect_server: LocalPrefectServer) -> Any:
    """`make_sdk(home, failing_sleeves=(), config=None)`: a toy SDK with the prefect executor, on
    the server."""
    return toy_sdk


@pytest.fixture
def sdk(tmp_path: Path, make_sdk: Any) -> QuantSDK:
    return make_sdk(tmp_path / "home")


# -- reading back from the Prefect API ----------------------------------------------------------


#: How long the API may take to record what a flow run's tasks did.
RECORDED_TIMEOUT_S = 120


class PrefectReader:
    """Flow runs and task runs as the Prefect API reports them. Task runs reach the server as
    events, recorded a little after the flow returns: reads wait until every expected task run
    is there in a final state."""

    def flow_runs(self, name: str) -> list[Any]:
        """Every flow run named `name`, oldest first (a resumed run has one per invocation)."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
        return sorted(found, key=lambda run: run.created)

    def flow_run(self, name: str) -> Any:
        (found,) = self.flow_runs(name)
        return found

    def task_runs(self, flow_run_id: Any, count: int) -> list[Any]:
        """The flow run's `count` task runs, in the order they started."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        deadline = time.monotonic() + RECORDED_TIMEOUT_S
        with get_client(sync_client=True) as client:
            while True:
                runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
                if len(runs) == count and all(run.state is not None and run.state.is_final() for run in runs):
                    return sorted(runs, key=lambda run: (run.start_time or run.created, run.created))
                if time.monotonic() > deadline:
                    raise AssertionError(f"flow run {flow_run_id}: {len(runs)} task runs, not {count}: {runs}")
                time.sleep(0.2)

    def task_run_states(self, task_run_id: Any) -> list[str]:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return [state.name for state in client.read_task_run_states(task_run_id)]


# -- small profiles of the real pipelines -------------------------------------------------------


def sleeve_profile(seed: int, *, assets: int = 24, days: int = 500) -> str:
    """A portfolio profile on the synthetic market, small enough for a test (a few seconds)."""
    return "\n".join([
        "[data]",
        'dataset = "synthetic"',
        f"params = {{ seed = {seed}, n_assets = {assets}, n_days = {days} }}",
        '[stages."selection.policy"]',
        "min_history = 100",
        '[stages."allocation.backtest"]',
        f"train = {days * 2 // 5}",
        "test = 60",
        "",
    ])


#: Two sleeves of the same profile, the second with another allocation engine: they share their
#: selection stages' cache keys.
TINY_META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)


@pytest.fixture
def tiny_home() -> Any:
    """`tiny_home(root) -> QuantSDK` on the installed stages, with the profiles `tiny_sleeve`
    (portfolio) and `tiny_meta` (two sleeves) in `root/profiles`."""
    pytest.importorskip("quant_stages", reason="the real pipelines come with quant-stages")

    def make(root: Path) -> QuantSDK:
        (root / "profiles").mkdir(parents=True)
        (root / "profiles" / "tiny_sleeve.toml").write_text(sleeve_profile(3))
        (root / "profiles" / "tiny_meta.toml").write_text(TINY_META)
        return QuantSDK(home=root)

    return make


@pytest.fixture
def stage_hashes() -> Any:
    """`stage_hashes(sdk, run_id)`: every stage's output hash in a run and its sleeves' runs,
    by `<run>/<stage>`."""

    def read(sdk: QuantSDK, run_id: str) -> dict[str, str | None]:
        hashes = {}
        for record_id in [run_id, *(p.name for p in sdk.home.runs_dir.glob(f"{run_id}.*"))]:
            for entry in sdk.record(record_id).read_ledger():
                hashes[f"{record_id}/{entry.stage_id}"] = entry.output_hash
        return hashes

    return read


@pytest.fixture
def prefect_api(prefect_server: LocalPrefectServer) -> PrefectReader:
    return PrefectReader()
