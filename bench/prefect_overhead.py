"""The Prefect backend's cost: per stage against bare Prefect tasks, and meta_flow on Ray.

    uv run python bench/prefect_overhead.py                    # both parts, own Prefect server
    uv run python bench/prefect_overhead.py --part stages --repeats 9
    uv run python bench/prefect_overhead.py --part ray --sleeves 8

Part `stages`: the per-stage cost of a generated flow (the `prefect` executor running a pipeline
of 40 `toy.noop` stages: cache key, task, JSON result, ledger line and context snapshot) against a
flow of 40 bare no-op Prefect tasks (`@task` defaults), and against the same bare tasks with what
Prefect's caching costs by itself (a cache key each, the JSON result persisted: `bare+cache`),
all submitted the same way (one after the other), on the same server, in the same process,
interleaved. Per stage is the time from one
stage's function starting to the next one's (task function clock for the bare flow, the ledger's
`started_at` for quant), so the flow's start and end, which vary by seconds on a busy machine,
are left out. This process's CPU time per stage is measured too (the slope between a flow of 5
and one of 40 stages): it counts the flow's threads and Prefect's, not the time spent waiting
for a core or for the server, which on a shared machine dominates the wall time. Reported: the
median over the repetitions, and each ratio as the median of the ratios within a repetition
(its flows ran back to back). Heartbeats are off for all.

Part `ray`: `meta_flow` (meta.full) with 8 sleeves on small synthetic profiles, on prefect-ray's
RayTaskRunner, with Ray started once for all flows (its start reported apart); per flow, cold (a
new quant home, each sleeve computed) and cached (the same home again). Peers in the same run:
the same flow on the thread task runner, the local executor, and a bare `RayTaskRunner()` flow,
which starts and stops Ray in every flow run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # workers on this interpreter (see conftest.py)
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

SHORT, STAGES = 5, 40
SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = {{ seed = {seed}, n_assets = 24, n_days = 500 }}\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min) on {os.cpu_count()} cores"


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# -- part 1: per-stage overhead ----------------------------------------------------------------


def bare_flow(stages: int, results: Path | None = None):
    """A flow of `stages` no-op tasks, one after the other. With `results`: each task also has a
    cache key of its own and a JSON result persisted there, as quant's tasks do (what Prefect's
    caching costs, without quant)."""
    import uuid

    from prefect import Task, flow
    from prefect.cache_policies import CachePolicy

    class FreshKey(CachePolicy):
        def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs):
            return uuid.uuid4().hex

    def noop(index: int) -> float:
        return time.time()  # when this task's function ran

    options = {} if results is None else {
        "cache_policy": FreshKey(), "persist_result": True, "result_storage": results,
        "result_serializer": "json", "refresh_cache": True,
    }
    task = Task(fn=noop, name="noop", **options)

    @flow(name="bare-noop")
    def bare() -> list[float]:
        return [task.submit(index).result() for index in range(stages)]

    return bare


def per_stage(starts: list[float]) -> float:
    """Seconds from one stage's function starting to the next one's: everything the flow does
    per stage, the flow's own start and end left out."""
    return (starts[-1] - starts[0]) / (len(starts) - 1)


def ledger_starts(sdk, run_id: str) -> list[float]:
    from datetime import datetime

    return [datetime.fromisoformat(e.started_at).timestamp() for e in sdk.record(run_id).read_ledger()]


def stage_overhead(scratch: Path, repeats: int) -> None:
    from quant_core import QuantSDK
    from quant_core.pipeline import PipelineSpec, StageStep
    from quant_core.testing import toy_registry

    from quant_flows_prefect.executor import factory

    registry = toy_registry()
    for length in (SHORT, STAGES):
        steps = [StageStep(stage="toy.noop", params={"index": i}) for i in range(length)]
        registry.register_pipeline(PipelineSpec.of(f"bench.noop{length}", *steps, context_kind="run"))
    registry.register_executor("prefect", factory)
    bare = {
        length: {"bare": bare_flow(length), "bare+cache": bare_flow(length, scratch / "bare-results")}
        for length in (SHORT, STAGES)
    }
    for flows in bare.values():
        for flow in flows.values():
            flow()  # warm up: imports, the flow's first registration
    kinds = ("bare", "bare+cache", "cold", "cached")
    wall: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for repeat in range(repeats):
        cpu_of: dict[tuple[str, int], float] = {}
        for length in (SHORT, STAGES):
            for kind, flow in bare[length].items():
                started = time.process_time()
                stamps = flow()
                cpu_of[kind, length] = time.process_time() - started
                if length == STAGES:
                    wall[kind].append(per_stage(stamps))
            sdk = QuantSDK(home=scratch / f"home-{repeat}-{length}", registry=registry, versions={"quant-core": "bench"})
            for kind in ("cold", "cached"):
                started = time.process_time()
                run = sdk.run_pipeline(f"bench.noop{length}", executor="prefect")
                cpu_of[kind, length] = time.process_time() - started
                assert all(e.cache_hit == (kind == "cached") for e in run.ledger)
                if length == STAGES:
                    wall[kind].append(per_stage(ledger_starts(sdk, run.run_id)))
        for kind in kinds:
            cpu[kind].append((cpu_of[kind, STAGES] - cpu_of[kind, SHORT]) / (STAGES - SHORT))
        print(
            f"  repeat {repeat + 1}/{repeats}: "
            + ", ".join(f"{k} {wall[k][-1] * 1e3:.1f} ms ({cpu[k][-1] * 1e3:.1f} CPU)" for k in kinds), flush=True,
        )
    print(f"\nper stage, median of {repeats} repetitions (min-max), {load()}")
    print(
        "ratios: the median over the repetitions of each one's own ratio (its flows ran back to back)\n"
        "| flow | wall ms | wall / bare | wall / bare+cache | CPU ms | CPU / bare | CPU / bare+cache |\n"
        "|---|---|---|---|---|---|---|"
    )
    for kind in kinds:
        cells = []
        for values in (wall[kind], cpu[kind]):
            peers = wall if values is wall[kind] else cpu
            cells.append(f"{statistics.median(values) * 1e3:.1f} ({min(values) * 1e3:.1f}-{max(values) * 1e3:.1f})")
            for peer in ("bare", "bare+cache"):
                cells.append(f"{statistics.median([a / b for a, b in zip(values, peers[peer])]):.2f}x")
        print(f"| {kind} | " + " | ".join(cells) + " |")


# -- part 2: meta_flow on Ray ------------------------------------------------------------------


def meta_home(root: Path, sleeves: int) -> Path:
    (root / "profiles").mkdir(parents=True)
    lines = ['[profile]\nkind = "meta"\n']
    for index in range(sleeves):
        (root / "profiles" / f"bench_sleeve_{index}.toml").write_text(SLEEVE.format(seed=100 + index))
        lines.append(f'[[sleeves]]\nname = "s{index}"\nprofile = "bench_sleeve_{index}"\n')
    (root / "profiles" / "bench_meta.toml").write_text("".join(lines))
    return root


def ray_meta_flow(scratch: Path, sleeves: int, repeats: int) -> None:
    import ray
    from prefect import flow, task
    from prefect_ray import RayTaskRunner
    from quant_core import QuantSDK

    from quant_flows_prefect import build_flow

    @task
    def noop(index: int) -> int:
        return index

    # address="local": a new instance (a bare ray.init() would join whatever /tmp/ray records)
    own_ray = {"address": "local", "num_cpus": 2, "include_dashboard": False, "_temp_dir": tempfile.mkdtemp(prefix="r", dir="/tmp")}

    @flow(name="bare-ray", task_runner=RayTaskRunner(init_kwargs=own_ray))
    def bare_ray() -> None:
        for future in [noop.submit(i) for i in range(sleeves)]:
            future.wait()

    print(f"\nprefect-ray's own RayTaskRunner (Ray started and stopped by the flow run): {sleeves} no-op tasks")
    for repeat in range(2):
        print(f"  flow {repeat + 1}: {timed(bare_ray):.1f} s", flush=True)

    ray_temp = tempfile.mkdtemp(prefix="r", dir="/tmp")
    print(f"\nray.init once: {timed(lambda: ray.init(address='local', num_cpus=2, include_dashboard=False, _temp_dir=ray_temp)):.1f} s", flush=True)
    rows: list[tuple[str, str, list[float]]] = []

    def run(label: str, make: Callable[[QuantSDK], Callable[[], object]], cached: bool) -> None:
        cold_times, cached_times = [], []
        for repeat in range(repeats):
            sdk = QuantSDK(home=meta_home(scratch / f"{label}-{repeat}", sleeves))
            go = make(sdk)
            cold_times.append(timed(go))
            if cached:
                cached_times.append(timed(go))
            print(f"  {label} {repeat + 1}/{repeats}: cold {cold_times[-1]:.1f} s" + (f", cached {cached_times[-1]:.1f} s" if cached else ""), flush=True)
        rows.append((label, "cold", cold_times))
        if cached:
            rows.append((label, "cached", cached_times))

    run("meta_flow on RayTaskRunner", lambda sdk: lambda: build_flow("meta.full", sdk=sdk, task_runner="ray")(profile="bench_meta"), True)
    run("meta_flow on threads", lambda sdk: lambda: build_flow("meta.full", sdk=sdk)(profile="bench_meta"), True)
    run("local executor", lambda sdk: lambda: sdk.run_pipeline("meta.full", profile="bench_meta"), False)
    ray.shutdown()
    print(f"\nmeta.full, {sleeves} sleeves (24 assets x 500 days each), s per flow, {load()}")
    print("| flow | run | median | min | max |\n|---|---|---|---|---|")
    for label, kind, values in rows:
        print(f"| {label} | {kind} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("stages", "ray", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=7, help="repetitions of part stages (part ray: a third, at least 2)")
    parser.add_argument("--sleeves", type=int, default=8)
    args = parser.parse_args()

    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_HOME, temporary_settings

    from quant_flows_prefect.testing import local_prefect_server

    with tempfile.TemporaryDirectory(prefix="quant-bench-prefect-") as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"Python {sys.version.split()[0]}; starting a Prefect server; {load()}", flush=True)
        with local_prefect_server(scratch / "prefect") as server:
            os.environ.update(server.environ())  # Ray workers
            updates = {PREFECT_API_URL: server.api_url, PREFECT_HOME: str(server.home), PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
            with temporary_settings(updates=updates):
                if args.part in ("stages", "both"):
                    stage_overhead(scratch / "stages", args.repeats)
                if args.part in ("ray", "both"):
                    ray_meta_flow(scratch / "ray", args.sleeves, max(2, args.repeats // 3))


if __name__ == "__main__":
    main()
