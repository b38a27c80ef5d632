"""The dbos executor against DBOS itself: per-stage overhead, and bytes checkpointed per step.

**Overhead** (`--overhead`, the default). In one DBOS (quant's, launched by the dbos executor), on
a SQLite system database and then on a private PostgreSQL cluster started for the run:

- bare:   a `@DBOS.workflow` of 20 no-op `@DBOS.step` calls (the peer: DBOS's own cost per step);
- cold:   a 20-step pipeline of `toy.noop` stages through `QuantSDK.run_pipeline(executor="dbos")`
          with `force` (every stage executes, stores its cache entry, checkpoints its outcome and
          writes its ledger line and snapshot), under a new run id each time;
- cached: the same pipeline again under a new run id: every stage a cache hit.

Each figure is the median over repetitions of (run time / 20), wall and this process's CPU.
Target: quant's per-stage time <= 2x the bare step's.

**Checkpoints** (`--checkpoints`): `portfolio.full` on `demo_equities` at N=2000 assets through the
dbos executor (SQLite), then, for each stage's DBOS step, the bytes DBOS stored (the checkpoint as
its portable-JSON serializer writes it) and the bytes of a large context delta moved to the
artifact store, next to the full `AttemptOutcome` and the output context. Target: <= 10 KB per step.

    uv run python bench/dbos_overhead.py [--repeats 15] [--checkpoints] [--no-postgres] [--no-fsync]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dbos import DBOS, DBOSPortableJSONSerializer, SetWorkflowID
from quant_core import PipelineSpec, ProfileCatalog, QuantSDK, StageRegistry
from quant_core.records import installed_versions
from quant_core.testing import toy_profiles, toy_registry
from quant_flows_dbos import DbosExecutor, shutdown
from quant_flows_dbos.checkpoints import restore
from quant_flows_dbos.testing import private_postgres
from quant_flows_dbos.workflows import attempted_stage

STAGES = 20
PIPELINE_ID = "bench.noop20"
TARGET_RATIO = 2.0
TARGET_CHECKPOINT_BYTES = 10 * 1024
N_ASSETS = 2000


@DBOS.step(name="bench.noop")
def bare_step(index: int) -> int:
    return index


@DBOS.workflow(name="bench.bare")
def bare_workflow(steps: int) -> int:
    for index in range(steps):
        bare_step(index)
    return steps


def bench_registry() -> StageRegistry:
    registry = toy_registry()
    registry.register_pipeline(
        PipelineSpec.of(
            PIPELINE_ID, *({"stage": "toy.noop", "params": {"index": i}} for i in range(STAGES)), context_kind="run"
        )
    )
    registry.register_executor("dbos", DbosExecutor)
    return registry


def timed(call: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def overhead(database_url: str, home: Path, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per stage (or step) for each repetition: {mode: {"wall": [...], "cpu": [...]}}."""
    sdk = QuantSDK(home=home, registry=bench_registry(), profiles=ProfileCatalog([toy_profiles()]), versions=installed_versions())
    options = {"dbos_database_url": database_url}
    sdk.run_pipeline(PIPELINE_ID, run_id="warm-up", executor="dbos", executor_options=options)  # launches DBOS
    figures: dict[str, dict[str, list[float]]] = {m: {"wall": [], "cpu": []} for m in ("bare", "cold", "cached")}

    def bare(rep: int) -> None:
        with SetWorkflowID(f"bare-{rep}"):
            bare_workflow(STAGES)

    for rep in range(repeats):
        calls = {
            "bare": lambda: bare(rep),
            "cold": lambda: sdk.run_pipeline(PIPELINE_ID, run_id=f"cold-{rep}", executor="dbos", force=True, executor_options=options),
            "cached": lambda: sdk.run_pipeline(PIPELINE_ID, run_id=f"cached-{rep}", executor="dbos", executor_options=options),
        }
        for mode, call in calls.items():
            wall, cpu = timed(call)
            figures[mode]["wall"].append(wall * 1000 / STAGES)
            figures[mode]["cpu"].append(cpu * 1000 / STAGES)
        cached = sdk.record(f"cached-{rep}").read_ledger()
        assert len(cached) == STAGES and all(e.cache_hit for e in cached), "the cached run recomputed"
    shutdown()
    return figures


def print_overhead(name: str, figures: dict[str, dict[str, list[float]]]) -> None:
    bare = statistics.median(figures["bare"]["wall"])
    print(f"\n{name}: ms per stage (bare: per DBOS step), median (IQR) over {len(figures['bare']['wall'])} runs")
    print(f"| mode   | wall                 | CPU                  | wall / bare step |")
    print(f"|--------|----------------------|----------------------|------------------|")
    for mode, values in figures.items():
        wall, cpu = values["wall"], values["cpu"]
        print(f"| {mode:<6} | {_median_iqr(wall):<20} | {_median_iqr(cpu):<20} | {statistics.median(wall) / bare:>16.2f} |")


def checkpoints(database_url: str, home: Path) -> None:
    sdk = QuantSDK(home=home)
    params = {"selection.ingestion": {"dataset_params": {"n_assets": N_ASSETS, "n_days": 1000}}}
    started = time.perf_counter()
    result = sdk.run_pipeline(
        "portfolio.full", profile="demo_equities", params=params, run_id="n2000", executor="dbos",
        executor_options={"dbos_database_url": database_url},
    )
    print(f"\nportfolio.full, demo_equities, N={N_ASSETS}: {time.perf_counter() - started:.1f} s through the dbos executor")
    serializer = DBOSPortableJSONSerializer()
    given = sdk.record("n2000").input_context().model_dump(mode="json")
    store = sdk.home.artifact_store()
    print("| step | checkpoint stored by DBOS | delta moved to the artifact store | full AttemptOutcome | output context |")
    print("|------|---------------------------|-----------------------------------|---------------------|----------------|")
    stored_sizes = []
    for step in DBOS.list_workflow_steps("n2000"):
        if attempted_stage(step["function_name"]) is None:
            continue
        stored = len(serializer.serialize(step["output"]).encode())
        spilled = (step["output"].get("context_delta_ref") or {}).get("size", 0)
        outcome = restore(step["output"], given, store)
        full = len(outcome.model_dump_json().encode())
        context = len(json.dumps(outcome.context, separators=(",", ":")).encode())
        stored_sizes.append(stored)
        print(f"| {step['function_name']} | {stored:,} | {spilled:,} | {full:,} | {context:,} |")
        given = outcome.context
    print(f"largest checkpoint {max(stored_sizes):,} B, median {statistics.median(stored_sizes):,.0f} B "
          f"(target <= {TARGET_CHECKPOINT_BYTES:,} B); final context {len(result.context.model_dump_json()):,} B")
    shutdown()


def _median_iqr(values: list[float]) -> str:
    q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return f"{median:.3f} ({q1:.3f}-{q3:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--checkpoints", action="store_true", help="measure checkpoint bytes at N=2000 instead")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL with fsync off (a fast disk's figures)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="qdbos") as scratch:
        root = Path(scratch)
        if args.checkpoints:
            checkpoints(f"sqlite:///{root / 'system.sqlite'}", root / "home")
        else:
            print_overhead("SQLite", overhead(f"sqlite:///{root / 'system.sqlite'}", root / "sqlite-home", args.repeats))
            if not args.no_postgres:
                with private_postgres(durable=not args.no_fsync) as server:
                    name = "PostgreSQL (fsync off)" if args.no_fsync else "PostgreSQL"
                    print_overhead(name, overhead(f"{server}/bench", root / "pg-home", args.repeats))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
