"""Per-stage overhead of the local executor, record writes included.

A 20-step pipeline of `toy.noop` stages (each step with its own `index` param) runs through
`QuantSDK.run_pipeline`:

- cold:   a fresh QuantHome each time, so every stage executes and writes its cache entry, its
          context snapshot and its ledger line;
- cached: the same inputs again under a new run id in a home that has them, so every stage is a
          cache hit (context snapshot and ledger line still written).

The peer is a plain Python call of the same stage's `execute` on the same context: what the stage
costs without quant. Each figure is the median over repetitions of (run time / 20 stages).

    uv run python bench/overhead.py [--repeats 30] [--profile cold|cached]
    uv run python bench/overhead.py --telemetry [--repeats 30]

Targets: <= 2 ms per stage cold, <= 0.5 ms per stage cached.

`--telemetry` measures tracing and metrics instead: the same pipeline, in the same repetition,
with telemetry off (the default), tracing alone (OpenTelemetry spans to an SDK tracer provider
whose batch processor exports to an exporter that drops them; each ledger line names its trace)
and on (tracing and Prometheus metrics), cold and cached; the figures are each state minus off
per stage. Off, the seam costs one no-op context manager per stage and per run and a trace id
that is None: timed on its own, in a loop. Targets: off nothing measurable, on <= 0.2 ms.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from quant_core import PipelineSpec, ProfileCatalog, QuantSDK, RunContext, StageRegistry
from quant_core.config import QuantConfig
from quant_core.records import installed_versions
from quant_core.telemetry import Telemetry
from quant_core.testing import Noop, toy_profiles, toy_registry

STAGES = 20
PIPELINE_ID = "bench.noop20"
TARGET_COLD_MS = 2.0
TARGET_CACHED_MS = 0.5


def bench_registry() -> StageRegistry:
    registry = toy_registry()
    registry.register_pipeline(
        PipelineSpec.of(
            PIPELINE_ID,
            *({"stage": "toy.noop", "params": {"index": index}} for index in range(STAGES)),
            context_kind="run",
        )
    )
    return registry


def make_sdk(home: Path, versions: dict[str, str], telemetry: Telemetry | None = None) -> QuantSDK:
    return QuantSDK(
        home=home, registry=bench_registry(), profiles=ProfileCatalog([toy_profiles()]), versions=versions,
        config=QuantConfig.defaults(), telemetry=telemetry,
    )


class Timing:
    """Wall time and this process's CPU time (user + system) of one call. On a busy machine the
    wall time includes waiting for a core; the CPU time does not."""

    def __init__(self, call: Callable[[], object]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() - cpu


def measure(repeats: int, scratch: Path, versions: dict[str, str]) -> dict[str, list[float]]:
    """Seconds per stage for each repetition of each mode, wall and CPU."""
    per_stage: dict[str, list[float]] = {}
    for rep in range(repeats):
        sdk = make_sdk(scratch / f"home-{rep}", versions)
        timings = {
            "cold": Timing(lambda: sdk.run_pipeline(PIPELINE_ID, run_id=f"cold-{rep}")),
            "cached": Timing(lambda: sdk.run_pipeline(PIPELINE_ID, run_id=f"cached-{rep}")),
            "plain": Timing(plain_pipeline),
        }
        result = sdk.run_pipeline(PIPELINE_ID, run_id=f"check-{rep}")
        if result.cache_hits != STAGES:
            raise AssertionError(f"expected {STAGES} cache hits, got {result.cache_hits}")
        for mode, timing in timings.items():
            per_stage.setdefault(f"{mode} wall", []).append(timing.wall / STAGES)
            per_stage.setdefault(f"{mode} cpu", []).append(timing.cpu / STAGES)
    return per_stage


TARGET_TELEMETRY_MS = 0.2


def telemetry_on(*, metrics: bool = True) -> Telemetry:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from quant_core.metrics import QuantMetrics
    from quant_core.tracing import Tracing

    class Dropping(SpanExporter):
        """Spans go through the real batch processor and are dropped (no collector to time)."""

        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropping()))
    return Telemetry(tracing=Tracing(provider), metrics=QuantMetrics() if metrics else None)


#: The telemetry states compared in each repetition: off, tracing alone, tracing and metrics.
TELEMETRY_STATES = ("off", "tracing", "on")


def measure_telemetry(repeats: int, scratch: Path, versions: dict[str, str]) -> dict[str, list[float]]:
    """Seconds per stage, in each `TELEMETRY_STATES`, cold and cached, interleaved in each
    repetition."""
    per_stage: dict[str, list[float]] = {}
    tracing, on = telemetry_on(metrics=False), telemetry_on()
    for rep in range(repeats):
        sdks = {
            "off": make_sdk(scratch / f"off-{rep}", versions),
            "tracing": make_sdk(scratch / f"tracing-{rep}", versions, telemetry=tracing),
            "on": make_sdk(scratch / f"on-{rep}", versions, telemetry=on),
        }
        for mode in ("cold", "cached"):
            for state, sdk in sdks.items():
                timing = Timing(lambda: sdk.run_pipeline(PIPELINE_ID, run_id=f"{mode}-{rep}"))
                per_stage.setdefault(f"{mode} {state} wall", []).append(timing.wall / STAGES)
                per_stage.setdefault(f"{mode} {state} cpu", []).append(timing.cpu / STAGES)
    tracing.flush()
    on.flush()
    return per_stage


def seam_cost_off(loops: int = 200_000) -> float:
    """Seconds per stage of the seam with telemetry off: the stage hook, the ledger's trace id and a
    run hook's share."""
    telemetry = Telemetry.off()
    record = object()
    start = time.perf_counter()
    for _ in range(loops):
        with telemetry.stage(record, stage_id="s", step=1, attempt=1, executor="local"):
            telemetry.trace_id()
    per_stage = (time.perf_counter() - start) / loops
    start = time.perf_counter()
    for _ in range(loops):
        with telemetry.run(record, None, traceparent=None):  # type: ignore[arg-type]
            pass
    return per_stage + (time.perf_counter() - start) / loops / STAGES


def report_telemetry(repeats: int, scratch: Path, versions: dict[str, str], scratch_name: str) -> int:
    measure_telemetry(2, scratch / "warmup", versions)
    per_stage = measure_telemetry(repeats, scratch, versions)
    print(f"machine: {machine()}")
    print(f"scratch: {scratch_name}; {STAGES} toy.noop stages; {repeats} repetitions; load average {os.getloadavg()[0]:.1f}\n")
    print("ms per stage; 'tracing': spans only, 'on': spans and metrics; added = median of the paired")
    print("differences with 'off' in the same repetition (IQR)\n")
    print(f"{'mode':<8} {'clock':<5} {'off':>8} {'tracing':>8} {'on':>8} {'tracing added':>22} {'on added':>22}")
    missed = False
    for mode in ("cold", "cached"):
        for clock in ("wall", "cpu"):
            times = {state: [v * 1e3 for v in per_stage[f"{mode} {state} {clock}"]] for state in TELEMETRY_STATES}
            cells = []
            for state in ("tracing", "on"):
                diffs = [b - a for a, b in zip(times["off"], times[state])]
                low, _, high = statistics.quantiles(diffs, n=4)
                added = statistics.median(diffs)
                if clock == "cpu":
                    missed |= added > TARGET_TELEMETRY_MS
                cells.append(f"{added:.4f} ({low:.3f} to {high:.3f})")
            medians = "".join(f"{statistics.median(times[state]):>9.4f}" for state in TELEMETRY_STATES)
            print(f"{mode:<8} {clock:<5}{medians} {cells[0]:>22} {cells[1]:>22}")
    print(f"\ntelemetry off: the seam's no-op hooks cost {seam_cost_off() * 1e6:.3f} us per stage (target: not measurable)")
    print(f"telemetry on: target <= {TARGET_TELEMETRY_MS} ms per stage (median of paired CPU-time differences)")
    return 1 if missed else 0


def plain_pipeline() -> RunContext:
    """The peer: the same 20 stages as plain Python calls, no executor, no record."""
    context = RunContext(run_id="plain")
    for index in range(STAGES):
        context = Noop(index=index).execute(context)
    return context


def profile(mode: str, scratch: Path, repeats: int, versions: dict[str, str]) -> None:
    profiler = cProfile.Profile()
    for rep in range(repeats):
        sdk = make_sdk(scratch / f"profile-{rep}", versions)
        if mode == "cached":
            sdk.run_pipeline(PIPELINE_ID, run_id=f"warm-{rep}")
        profiler.enable()
        sdk.run_pipeline(PIPELINE_ID, run_id=f"profiled-{rep}")
        profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--profile", choices=["cold", "cached"])
    parser.add_argument("--scratch", type=Path, default=None, help="where the QuantHomes go (default: a temp dir)")
    parser.add_argument("--telemetry", action="store_true", help="tracing and metrics off vs on")
    args = parser.parse_args()

    # Package versions go into every run manifest; an SDK reads them once, on its first run. That
    # is a per-process cost, not a per-stage one: measured apart and handed to each SDK.
    versions_timing = Timing(installed_versions)
    versions = installed_versions()

    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch_dir:
        scratch = Path(scratch_dir)
        if args.profile:
            profile(args.profile, scratch, args.repeats, versions)
            return 0
        if args.telemetry:
            place = args.scratch or Path(tempfile.gettempdir())
            return report_telemetry(args.repeats, scratch, versions, f"{place} ({filesystem(place)})")
        measure(3, scratch / "warmup", versions)  # imports, first files
        per_stage = measure(args.repeats, scratch, versions)

    print(f"machine: {machine()}")
    print(f"scratch: {args.scratch or tempfile.gettempdir()} ({filesystem(args.scratch or Path(tempfile.gettempdir()))}); "
          f"{STAGES} toy.noop stages; {args.repeats} repetitions; load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'mode':<8} {'wall ms/stage':>14} {'(IQR)':>15} {'cpu ms/stage':>13} {'(IQR)':>15} {'target':>8}")
    missed = False
    for mode, target in (("cold", TARGET_COLD_MS), ("cached", TARGET_CACHED_MS), ("plain", None)):
        cells = []
        for clock in ("wall", "cpu"):
            values = [v * 1e3 for v in per_stage[f"{mode} {clock}"]]
            low, _, high = statistics.quantiles(values, n=4)
            cells.append(f"{statistics.median(values):>14.4f} {f'({low:.3f}-{high:.3f})':>15}")
        if target is not None:
            missed |= statistics.median(per_stage[f"{mode} wall"]) * 1e3 > target
        print(f"{mode:<8} {cells[0]} {cells[1][1:]} {'' if target is None else f'<= {target:g}':>8}")
    plain = statistics.median(per_stage["plain wall"]) * 1e3
    print(
        f"\nexecutor overhead over a plain call (wall medians): "
        f"cold {statistics.median(per_stage['cold wall']) * 1e3 - plain:.4f} ms/stage, "
        f"cached {statistics.median(per_stage['cached wall']) * 1e3 - plain:.4f} ms/stage"
    )
    print(f"once per SDK (package versions for the manifests): {versions_timing.wall * 1e3:.1f} ms")
    return 1 if missed else 0


def filesystem(path: Path) -> str:
    """The file system type of `path` (from /proc/mounts; the longest matching mount point)."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown file system"
    resolved = str(Path(path).resolve())
    best = max((m for m in mounts if resolved == m[0] or resolved.startswith(m[0].rstrip("/") + "/")), key=lambda m: len(m[0]), default=None)
    return best[1] if best else "unknown file system"


if __name__ == "__main__":
    sys.exit(main())
