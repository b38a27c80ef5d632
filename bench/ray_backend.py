"""Benchmark: the Ray backend against its peers, each measure in one process run.

    uv run python bench/ray_backend.py sleeves     # 8 CPU-heavy sleeves: sequential vs process pool vs Ray
    uv run python bench/ray_backend.py overhead    # per remote stage: map_stages of a no-op vs a bare Ray task
    uv run python bench/ray_backend.py crossing    # bytes into and out of Ray per stage of portfolio.full at N=2000
    uv run python bench/ray_backend.py             # all three

sleeves:  `portfolio.full` once per sleeve, 8 sleeves of 300 assets (one synthetic market each, so
          no sleeve reuses another's cache), in a fresh QuantHome per mode and round: the local
          executor in this process (sequential), the local executor on a 2-process pool, and Ray
          with 2 CPUs (one actor per sleeve, one CPU each). Modes alternate over rounds and the best
          of each is kept (a busy neighbour only ever adds time). `ray.init` is timed apart.
          Target: Ray >= 1.6x faster than sequential.
overhead: (`--scratch /dev/shm` puts its QuantHome on tmpfs) `map_stages` of `toy.noop` over M contexts (each its own run: manifest, ledger line,
          snapshot, cache entry; a new `index` each round so nothing is a cache hit) against M bare
          Ray tasks (`lambda payload: payload` on the same request JSON), both submitted at once,
          in the same Ray; and a 20-step no-op pipeline (`run_pipeline`, one task after another)
          against 20 bare tasks one after another. Target: <= 2 ms per stage above the bare task.
crossing: `portfolio.full` at N=2000 on Ray, then each step's request (the task argument: input
          context and params) and outcome (the task result: output context and its ledger line)
          measured by sending that step again (a cache hit has the same outcome shape): what
          crosses Ray, and the message itself (above 8 KB it travels through the artifact store
          and Ray carries its reference). Target: <= 10 KB per stage.

The CPU load (1-minute load average, and this machine's core count) is printed with every figure:
the machine is shared, and a busy neighbour slows every mode alike only if it stays busy.
"""

from __future__ import annotations

import argparse
import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # as the `quant` command: parallelism across sleeves, not BLAS

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import quant_compute_ray  # noqa: E402,F401  (before Ray: see its __init__)
import ray  # noqa: E402
from quant_compute_ray import RayComputeEngine, wire  # noqa: E402
from quant_compute_ray.attempts import StageCall  # noqa: E402
from quant_compute_ray.tasks import execute_stage_remote  # noqa: E402
from quant_compute_ray.worker import RuntimeHandle  # noqa: E402
from quant_core import PipelineSpec, QuantSDK, RunContext, StageRegistry  # noqa: E402
from quant_core.context import context_from_data  # noqa: E402
from quant_core.execution import effective_params  # noqa: E402
from quant_core.pipeline import FanOutStep  # noqa: E402
from quant_core.records import installed_versions  # noqa: E402
from quant_core.testing import toy_registry  # noqa: E402

RAY_CPUS = 2
SLEEVES = 8
SLEEVE_ASSETS = 300
SLEEVE_DAYS = 2500
#: A walk-forward of (2500 - 500) / 10 = 200 windows, each reselecting and reallocating 300 assets:
#: about 20 s of CPU per sleeve here. A sleeve actor is a new process (Ray's worker start-up, then
#: numpy, pandas, scipy and cvxpy imported: about 3 s of CPU), so lighter sleeves measure that.
SLEEVE_TRAIN, SLEEVE_TEST = 500, 10
CROSSING_ASSETS = 2000
CROSSING_DAYS = 1000
MAP_CONTEXTS = 200
OVERHEAD_ROUNDS = 7
PIPELINE_STEPS = 20
SLEEVES_PIPELINE = "bench.sleeves"


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


class CpuMeter:
    """CPU seconds used by this process and every process below it (a pool's workers; a local
    Ray's raylet, its system processes, workers and actors), sampled from /proc twice a second
    while a run lasts: a figure a busy neighbour does not change, unlike wall time."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> CpuMeter:
        self._start = self._descendants()
        self._last = dict(self._start)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._record(self._descendants())

    @property
    def seconds(self) -> float:
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(0.5):
            self._record(self._descendants())

    def _record(self, sample: dict[int, float]) -> None:
        for pid, cpu in sample.items():
            self._last[pid] = max(cpu, self._last.get(pid, 0.0))

    def _descendants(self) -> dict[int, float]:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:  # ended while we looked
                    continue
                parents[int(entry.name)] = int(fields[1])
                cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / self.TICK
        mine = {os.getpid()}
        grew = True
        while grew:
            below = {pid for pid, parent in parents.items() if parent in mine} - mine
            grew = bool(below)
            mine |= below
        return {pid: cpu[pid] for pid in mine}


# -- sleeves --------------------------------------------------------------------------------------


def sleeve_profile(seed: int, n_assets: int, n_days: int) -> str:
    return (
        f'[data]\ndataset = "synthetic"\nparams = {{ seed = {seed}, n_assets = {n_assets}, n_days = {n_days} }}\n'
        '[stages."selection.policy"]\nmin_history = 250\n'
        '[stages."allocation.optimize"]\nengine = "risk_parity"\nmax_weight = 0.2\n'
        f'[stages."allocation.backtest"]\ntrain = {SLEEVE_TRAIN}\ntest = {SLEEVE_TEST}\n'
    )


def sleeves_home(root: Path, n_assets: int, n_days: int) -> Path:
    profiles = root / "profiles"
    profiles.mkdir(parents=True)
    entries = []
    for index in range(SLEEVES):
        (profiles / f"bench_sleeve_{index}.toml").write_text(sleeve_profile(100 + index, n_assets, n_days))
        entries.append(f'[[sleeves]]\nname = "s{index}"\nprofile = "bench_sleeve_{index}"\n')
    (profiles / "bench_sleeves.toml").write_text('[profile]\nkind = "meta"\n' + "".join(entries))
    return root


def sleeves_registry() -> StageRegistry:
    registry = StageRegistry.from_entry_points()
    registry.register_pipeline(
        PipelineSpec.of(
            SLEEVES_PIPELINE,
            FanOutStep(pipeline="portfolio.full", collect=("backtest_returns", "backtest_weights", "weights")),
            context_kind="meta",
        )
    )
    return registry


def bench_sleeves(n_assets: int, n_days: int, rounds: int) -> None:
    print(f"## {SLEEVES} sleeves of portfolio.full, {n_assets} assets x {n_days} days each, "
          f"{rounds} round(s), modes interleaved ({load()})\n", flush=True)
    versions = installed_versions()
    outcomes: dict[str, str] = {}
    times: dict[str, list[float]] = {"sequential": [], "pool": [], "ray": []}
    cpus: dict[str, list[float]] = {"sequential": [], "pool": [], "ray": []}
    ray_inits: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:

        def sdk_for(name: str) -> QuantSDK:
            home = sleeves_home(Path(scratch) / name, n_assets, n_days)
            return QuantSDK(home=home, registry=sleeves_registry(), versions=versions)

        def timed(mode: str, sdk: QuantSDK, executor: str, **options) -> None:
            before = load()
            start = time.perf_counter()
            with CpuMeter() as meter:
                result = sdk.run_pipeline(
                    SLEEVES_PIPELINE, profile="bench_sleeves", executor=executor, executor_options=options
                )
            seconds = time.perf_counter() - start
            outcomes[mode] = json.dumps([r.model_dump(exclude={"run_id"}) for r in sdk.expanded(result.context).sleeve_results], sort_keys=True)
            times[mode].append(seconds)
            cpus[mode].append(meter.seconds)
            print(f"- {mode}: {seconds:.1f} s wall, {meter.seconds:.1f} s CPU ({before} before, {load()} after)", flush=True)

        # the numerical stack imported in this process first (the pool's and Ray's workers import
        # their own, inside their figures)
        warm = sdk_for("warm")
        (warm.home.profiles_dir / "bench_warm.toml").write_text(sleeve_profile(1, 30, 600))
        warm.run_pipeline("portfolio.full", profile="bench_warm")
        for round_ in range(rounds):  # each mode in a fresh QuantHome: every sleeve computed
            timed("sequential", sdk_for(f"sequential-{round_}"), "local")
            timed("pool", sdk_for(f"pool-{round_}"), "local", workers=2)
            ray_sdk = sdk_for(f"ray-{round_}")
            start = time.perf_counter()
            with RayComputeEngine(num_cpus=RAY_CPUS, runtime=ray_sdk.runtime()):
                ray_inits.append(time.perf_counter() - start)
                timed("ray", ray_sdk, "ray")

    assert len(set(outcomes.values())) == 1, "the modes computed different sleeves"
    best = {mode: min(values) for mode, values in times.items()}
    print(f"\nbest of {rounds} ({load()} at the end):\n")
    cpu = {mode: min(values) for mode, values in cpus.items()}
    print("| mode | wall s (best) | every round | speed-up vs sequential | CPU s (least) | bound on 2 idle cores |")
    print("|---|---|---|---|---|---|")
    labels = {"sequential": "sequential, in-process (local)", "pool": "local process pool, 2 workers",
              "ray": f"Ray, {RAY_CPUS} CPUs, one actor per sleeve (ray.init apart)"}
    for mode, label in labels.items():
        every = ", ".join(f"{t:.1f}" for t in times[mode])
        # on two idle cores a run cannot be faster than its CPU seconds spread over both
        bound = cpu["sequential"] / max(cpu[mode] / RAY_CPUS, cpu["sequential"] / SLEEVES) if mode != "sequential" else 1.0
        print(f"| {label} | {best[mode]:.1f} | {every} | {best['sequential'] / best[mode]:.2f}x | {cpu[mode]:.1f} | {bound:.2f}x |")
    print(f"\nray.init (local, {RAY_CPUS} CPUs): {', '.join(f'{t:.1f}' for t in ray_inits)} s, reported apart; "
          f"target: Ray >= 1.6x over sequential\n")


# -- overhead -------------------------------------------------------------------------------------


@ray.remote(max_retries=0)
def bare_task(payload: str) -> str:
    return payload


def noop_pipeline() -> PipelineSpec:
    return PipelineSpec.of(
        "bench.noop20", *({"stage": "toy.noop", "params": {"index": i}} for i in range(PIPELINE_STEPS)), context_kind="run"
    )


def bench_overhead(scratch_root: str | None) -> None:
    print(f"## per remote stage: map_stages of toy.noop vs bare Ray tasks, records in {scratch_root or tempfile.gettempdir()} ({load()})\n")
    registry = toy_registry()
    registry.register_pipeline(noop_pipeline())
    with tempfile.TemporaryDirectory(prefix="bench-ray-", dir=scratch_root) as scratch:
        sdk = QuantSDK(home=scratch, registry=registry, versions=installed_versions())
        start = time.perf_counter()
        with RayComputeEngine(num_cpus=RAY_CPUS, runtime=sdk.runtime()) as engine:
            print(f"ray.init: {time.perf_counter() - start:.1f} s")
            payload = StageCall(sdk.record("x"), 1, "toy.noop", RunContext(run_id="x"), {"index": 0}).request(1)
            ray.get([bare_task.remote(payload) for _ in range(4 * RAY_CPUS)])  # workers up
            engine.map_stages("toy.noop", [RunContext(run_id="warm")], {"index": -1})
            figures: dict[str, list[tuple[float, float]]] = {"map": [], "bare": [], "pipeline": [], "chain": []}

            def timed(name: str, count: int, call) -> None:
                wall, cpu = time.perf_counter(), time.process_time()
                call()
                figures[name].append(((time.perf_counter() - wall) / count, (time.process_time() - cpu) / count))

            def chain() -> None:
                for _ in range(PIPELINE_STEPS):
                    ray.get(bare_task.remote(payload))

            for round_ in range(OVERHEAD_ROUNDS):
                contexts = [RunContext(run_id=f"map-{round_}-{i}") for i in range(MAP_CONTEXTS)]
                timed("map", MAP_CONTEXTS, lambda: engine.map_stages("toy.noop", contexts, {"index": round_}))
                timed("bare", MAP_CONTEXTS, lambda: ray.get([bare_task.remote(payload) for _ in range(MAP_CONTEXTS)]))
                context = RunContext(run_id=f"pipe-{round_}", params={"round": round_})
                timed("pipeline", PIPELINE_STEPS, lambda: engine.run_pipeline(noop_pipeline(), context, {}))
                timed("chain", PIPELINE_STEPS, chain)
    wall = {k: statistics.median(w for w, _ in v) * 1e3 for k, v in figures.items()}
    cpu = {k: statistics.median(c for _, c in v) * 1e3 for k, v in figures.items()}
    print(f"\nmedian of {OVERHEAD_ROUNDS} rounds, ms per stage; driver CPU = this process's CPU time ({load()} after):\n")
    print("| measure | quant on Ray | bare Ray task | above the bare task | driver CPU quant / bare |")
    print("|---|---|---|---|---|")
    for label, ours, peer in (
        (f"map_stages, {MAP_CONTEXTS} contexts at once", "map", "bare"),
        (f"pipeline, {PIPELINE_STEPS} steps one after another", "pipeline", "chain"),
    ):
        print(f"| {label} | {wall[ours]:.2f} | {wall[peer]:.2f} | {wall[ours] - wall[peer]:.2f} | {cpu[ours]:.2f} / {cpu[peer]:.2f} |")
    print("\ntarget: <= 2 ms above the bare task (map_stages)\n")


# -- crossing -------------------------------------------------------------------------------------


def bench_crossing(n_assets: int, n_days: int) -> None:
    print(f"## bytes into and out of Ray per stage, portfolio.full at N={n_assets} x {n_days} days ({load()})\n")
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
        sdk = QuantSDK(home=scratch, versions=installed_versions())
        params = {
            "selection.ingestion.dataset_params": {"n_assets": n_assets, "n_days": n_days},
            "allocation.backtest.train": 500, "allocation.backtest.test": 250,
        }
        with RayComputeEngine(num_cpus=RAY_CPUS, runtime=sdk.runtime()):
            start = time.perf_counter()
            result = sdk.run_pipeline("portfolio.full", params=params, run_id="crossing", executor="ray")
            print(f"portfolio.full on Ray: {time.perf_counter() - start:.1f} s\n")
            record = sdk.record("crossing")
            manifest = record.read_manifest()
            snapshots = record.context_entries()
            handle = RuntimeHandle(ray.put(sdk.runtime()))
            print("| step | request bytes into Ray | outcome bytes out of Ray | the request / outcome themselves | its output context alone |")
            print("|---|---|---|---|---|")
            largest = 0
            for index, step in enumerate(manifest.steps, start=1):
                stage_id = str(step["stage"])
                call = StageCall(
                    record, index, stage_id, context_from_data(snapshots[index - 1][1]),
                    effective_params(step.get("params") or {}, manifest.params.get(stage_id, {})),
                )
                request = call.request(1)
                sent = wire.pack(request, sdk.runtime().store)
                answer = ray.get(execute_stage_remote.remote(handle, sent))
                outcome = wire.unpack(answer, sdk.runtime().store)
                assert wire.decode_outcome(outcome).cache_hit, stage_id
                context_bytes = len(json.dumps(json.loads(outcome)["context"], separators=(",", ":")).encode())
                sizes = (len(sent.encode()), len(answer.encode()))
                largest = max(largest, *sizes)
                print(f"| {stage_id} | {sizes[0]:,} | {sizes[1]:,} | {len(request.encode()):,} / {len(outcome.encode()):,} | {context_bytes:,} |")
            assert result.status == "succeeded"
    print(f"\nlargest crossing: {largest:,} bytes; target <= 10 KB (10,240 bytes) per stage\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", nargs="*", choices=["sleeves", "overhead", "crossing"], default=[])
    parser.add_argument("--sleeve-assets", type=int, default=SLEEVE_ASSETS)
    parser.add_argument("--sleeve-days", type=int, default=SLEEVE_DAYS)
    parser.add_argument("--crossing-assets", type=int, default=CROSSING_ASSETS)
    parser.add_argument("--rounds", type=int, default=2, help="sleeves: rounds of the three modes (best kept)")
    parser.add_argument("--scratch", default=None, help="where the overhead run's QuantHome goes (e.g. /dev/shm)")
    args = parser.parse_args()
    which = args.which or ["sleeves", "overhead", "crossing"]
    if "sleeves" in which:
        bench_sleeves(args.sleeve_assets, args.sleeve_days, args.rounds)
    if "overhead" in which:
        bench_overhead(args.scratch)
    if "crossing" in which:
        bench_crossing(args.crossing_assets, CROSSING_DAYS)


if __name__ == "__main__":
    main()
