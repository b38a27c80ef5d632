"""Test stages, registries, profiles and child-process helpers of the DBOS backend tests.

Used by the tests (through the `kit` fixture) and by `child.py` (a separate process, which imports
this file as a sibling module).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from pydantic import Field
from quant_core import ProfileCatalog, QuantSDK
from quant_core.context import MetaContext, RunContext, SelectionContext, SleeveSpec
from quant_core.pipeline import FanOutStep, PipelineSpec
from quant_core.profiles import ResolvedProfile
from quant_core.registry import StageRegistry
from quant_core.stage import Stage, StageParams
from quant_core.testing import MarkerGate, ToyProfiles, toy_profiles, toy_registry
from quant_flows_dbos import DbosExecutor

HERE = Path(__file__).parent
CHILD = HERE / "child.py"
WORKER_CHILD = HERE / "worker_child.py"
#: A child run of the tiny meta pipeline takes ~10 s alone; a loaded 2-core machine may be 10x.
CHILD_TIMEOUT_S = 900
BARRIER_TIMEOUT_S = 120.0

TINY_SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 24, n_days = 500 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
TINY_META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)


# -- test stages ----------------------------------------------------------------------------------


class Barrier(Stage[SelectionContext]):
    """Lets sleeves through in groups of `wait_for`: each waits (up to a generous timeout) until
    its group has entered, and logs the most sleeves it saw inside at once. With a queue that let
    more sleeves run at once, one would see more; with fewer, none would see a full group."""

    id = "test.barrier"
    context_type = SelectionContext

    class Params(StageParams):
        folder: str = "/nonexistent/barrier"  # every profile that runs it gives one
        wait_for: int = Field(default=1, ge=1)

    def execute(self, context: SelectionContext) -> SelectionContext:
        folder = Path(self.params.folder)
        (folder / f"entered.{context.run_id}").touch()
        entered = lambda: len(list(folder.glob("entered.*")))  # noqa: E731
        group_end = -(-entered() // self.params.wait_for) * self.params.wait_for
        seen, deadline = 0, time.monotonic() + BARRIER_TIMEOUT_S
        while True:
            seen = max(seen, entered() - len(list(folder.glob("left.*"))))
            if entered() >= group_end or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with (folder / "seen.log").open("a") as log:
            log.write(f"{context.run_id} {seen}\n")
        (folder / f"left.{context.run_id}").touch()
        return context.model_copy(update={"winners": [f"seen-{seen}"]})


class Wide(Stage[SelectionContext]):
    """Keeps a large value inline in the context (`n` names in `allocation`, a field core does not
    spill, unlike `winners`), as a stage may: a checkpoint must not carry it."""

    id = "test.wide"
    context_type = SelectionContext

    class Params(StageParams):
        n: int = Field(default=1000, ge=1)

    def execute(self, context: SelectionContext) -> SelectionContext:
        return context.model_copy(update={"allocation": {"names": [f"EXCHANGE:ASSET{i:05d}USDT" for i in range(self.params.n)]}})


GATED_SLEEVE = PipelineSpec.of("test.sleeve", "toy.seed", "test.gate", "toy.scale", "toy.sum")
GATED_META = PipelineSpec.of("test.meta", FanOutStep(pipeline="test.sleeve"), "toy.meta_total", context_kind="meta")
BARRIER_SLEEVE = PipelineSpec.of("test.barrier_sleeve", "toy.seed", "test.barrier", "toy.scale", "toy.sum")
BARRIER_META = PipelineSpec.of(
    "test.barrier_meta", FanOutStep(pipeline="test.barrier_sleeve"), "toy.meta_total", context_kind="meta"
)
WIDE = PipelineSpec.of("test.wide_portfolio", "toy.seed", "test.wide", "toy.scale", "toy.sum")
RETRIED = PipelineSpec.of(
    "test.retried", "toy.seed", {"stage": "toy.flaky", "params": {"marker": "/nonexistent/flaky"}}, "toy.scale", "toy.sum"
)


def build_registry() -> StageRegistry:
    """quant-core's toy registry, the test stages and pipelines, and the dbos executor."""
    registry = toy_registry()
    for stage in (MarkerGate, Barrier, Wide):
        registry.register(stage)
    for pipeline in (GATED_SLEEVE, GATED_META, BARRIER_SLEEVE, BARRIER_META, RETRIED, WIDE):
        registry.register_pipeline(pipeline)
    return with_dbos(registry)


def with_dbos(registry: StageRegistry) -> StageRegistry:
    registry.register_executor("dbos", DbosExecutor)
    return registry


def build_profiles(gate_marker: str | None = None, barrier_folder: str | None = None, wait_for: int = 1) -> ToyProfiles:
    """quant-core's toy profiles, plus `gated` (sleeve `beta` behind a gate closed while
    `gate_marker` exists) and `quad` (four sleeves through the barrier in `barrier_folder`)."""
    profiles = dict(toy_profiles().profiles)
    gated_sleeves = [
        SleeveSpec(
            name=name, profile=profile,
            stage_params={"test.gate": {"marker": gate_marker}} if name == "beta" and gate_marker else {},
        )
        for name, profile in (("alpha", "small"), ("beta", "large"), ("gamma", "small"))
    ]
    profiles["gated"] = ResolvedProfile(name="gated", kind="meta", sleeves=gated_sleeves)
    if barrier_folder is not None:
        barrier = {"folder": barrier_folder, "wait_for": wait_for}
        quad = [  # distinct inputs: a cache hit would not enter the barrier
            SleeveSpec(name=f"s{i}", profile="small", stage_params={"toy.seed": {"offset": i}, "test.barrier": barrier})
            for i in range(4)
        ]
        profiles["quad"] = ResolvedProfile(name="quad", kind="meta", sleeves=quad)
    return ToyProfiles(profiles)


def toy_sdk(home: Path, profiles: ToyProfiles | None = None, registry: StageRegistry | None = None, **kwargs: Any) -> QuantSDK:
    return QuantSDK(
        home=home, registry=registry or build_registry(), profiles=ProfileCatalog([profiles or build_profiles()]),
        **kwargs,
    )


def write_tiny_profiles(home: Path) -> None:
    folder = home / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny_sleeve.toml").write_text(TINY_SLEEVE)
    (folder / "tiny_meta.toml").write_text(TINY_META)


# -- a stage that kills its own process -----------------------------------------------------------


def killing(
    stage_class: type[Stage], run_id: str, marker: Path, log: Path, signal_number: int = signal.SIGKILL
) -> type[Stage]:
    """`stage_class`, logging each time it starts; in run `run_id`, while `marker` does not exist,
    it creates it and sends its own process `signal_number`: SIGKILL (the machine dying mid-stage,
    once) or SIGINT (Ctrl-C)."""

    class Killing(stage_class):  # type: ignore[valid-type, misc]
        def execute(self, context: RunContext) -> RunContext:
            with log.open("a") as handle:
                handle.write(f"{context.run_id} {self.SPEC.id} {os.getpid()}\n")
            if context.run_id == run_id and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal_number)
            return super().execute(context)

    return Killing


def holding(stage_class: type[Stage], run_id: str | None, log: Path, release: Path) -> type[Stage]:
    """`stage_class`, logging each time it starts; in run `run_id` (None: none), it then waits
    until the file `release` exists (a stage that lasts as long as a test needs), for at most
    `CHILD_TIMEOUT_S`."""

    class Holding(stage_class):  # type: ignore[valid-type, misc]
        def execute(self, context: RunContext) -> RunContext:
            with log.open("a") as handle:
                handle.write(f"{context.run_id} {self.SPEC.id} {os.getpid()}\n")
            deadline = time.monotonic() + CHILD_TIMEOUT_S
            while context.run_id == run_id and not release.exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"held for {CHILD_TIMEOUT_S} s: {release} never appeared")
                time.sleep(0.05)
            return super().execute(context)

    return Holding


def with_stage_replaced(base: StageRegistry, stage_id: str, stage_class: type[Stage]) -> StageRegistry:
    """`base`'s stages and pipelines, with `stage_class` running the stage `stage_id` (same spec:
    same id, version, cache keys and output hashes)."""
    registry = StageRegistry()
    for spec in base.list_stages():
        registry.register(spec.model_copy(update={"stage_class": stage_class}) if spec.id == stage_id else spec)
    pending = base.list_pipelines()
    while pending:  # a pipeline is registered after those it refers to
        ready = [p for p in pending if all(r in {q.id for q in registry.list_pipelines()} for r in p.referenced_pipelines())]
        for pipeline in ready:
            registry.register_pipeline(pipeline)
        pending = [p for p in pending if p not in ready]
    return with_dbos(registry)


# -- the child process ----------------------------------------------------------------------------


def run_child(
    spec: dict[str, Any], *, expect_killed: bool = False, expect_exit: int | None = None
) -> dict[str, Any] | None:
    """Run `child.py` with `spec`; give its JSON answer, or None when it was killed (as expected)
    or left with `expect_exit`."""
    done = subprocess.run(
        [sys.executable, str(CHILD), json.dumps(spec)], capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        # A test sends the child SIGINT as a user's Ctrl-C: it must not inherit an ignored SIGINT
        # (a test run started in the background without job control ignores it).
        preexec_fn=_default_sigint,
    )
    expected = -signal.SIGKILL if expect_killed else expect_exit
    if expected is not None:
        assert done.returncode == expected, f"the child was to exit {expected}, not {done.returncode}: {done.stderr[-3000:]}"
        return None
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def kill_a_driver_mid_sleeve(home: Path, database_url: str, folder: Path, *, run_id: str, stage: str) -> Path:
    """`meta.full` on the tiny profiles in a child driver that SIGKILLs itself the first time
    sleeve b starts `stage`; gives the log of every start of `stage` (see `executions`)."""
    write_tiny_profiles(home)
    log, marker = folder / "executions.log", folder / "killed-once"
    run_child(
        {
            "action": "run", "home": str(home), "database_url": database_url, "registry": "entry_points",
            "pipeline": "meta.full", "profile": "tiny_meta", "run_id": run_id,
            "kill": {"stage": stage, "run_id": f"{run_id}.b"}, "marker": str(marker), "log": str(log),
        },
        expect_killed=True,
    )
    return log


class Lines:
    """A subprocess's stdout, read by a thread so that a wait can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=lambda: [self._lines.put(line) for line in stream], daemon=True)
        self._reader.start()

    def next(self, deadline: float, process: subprocess.Popen[str], log: Path) -> str:
        while True:
            assert process.poll() is None, f"the worker exited {process.returncode}: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"nothing from the worker in time: {log.read_text()[-3000:]}"
            try:
                return self._lines.get(timeout=1)
            except queue.Empty:
                continue

    def document(self, deadline: float, process: subprocess.Popen[str], log: Path) -> dict[str, Any]:
        """The pretty-printed JSON document written first."""
        text = ""
        while True:
            text += self.next(deadline, process, log)
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                continue

    def rest(self, deadline: float, process: subprocess.Popen[str]) -> list[str]:
        """Every line not read yet, once the process exited and its stdout closed (both within
        `deadline`)."""
        process.wait(timeout=max(deadline - time.monotonic(), 1))
        self._reader.join(timeout=max(deadline - time.monotonic(), 1))
        assert not self._reader.is_alive(), "the process exited but its stdout stayed open"
        lines = []
        while not self._lines.empty():
            lines.append(self._lines.get_nowait())
        return lines


def executions(log: Path) -> list[tuple[str, str, str]]:
    """(run id, stage id, pid) of every time the watched stage started, in order."""
    if not log.exists():
        return []
    return [(run_id, stage_id, pid) for run_id, stage_id, pid in (line.split() for line in log.read_text().splitlines())]


def workers(sdk: QuantSDK, run_ids: list[str]) -> dict[tuple[str, str], str | None]:
    """(run id, stage id) -> the process (pid) its last ledger line says it ran in."""
    return {(run_id, e.stage_id): e.worker for run_id in run_ids for e in sdk.record(run_id).read_ledger()}


def ledger_counts(sdk: QuantSDK, run_ids: list[str]) -> dict[tuple[str, str], list[str]]:
    """(run id, stage id) -> the status of each of its ledger lines, in order."""
    counts: dict[tuple[str, str], list[str]] = {}
    for run_id in run_ids:
        for entry in sdk.record(run_id).read_ledger():
            counts.setdefault((run_id, entry.stage_id), []).append(entry.status)
    return counts


def output_hashes(sdk: QuantSDK, run_id: str, sleeves: list[str]) -> dict[str, str | None]:
    """`<sleeve or meta>/<stage id>` -> output hash of its last ledger line: comparable across
    runs with different ids."""
    hashes = {f"meta/{e.stage_id}": e.output_hash for e in sdk.record(run_id).read_ledger()}
    for sleeve in sleeves:
        hashes |= {f"{sleeve}/{e.stage_id}": e.output_hash for e in sdk.record(f"{run_id}.{sleeve}").read_ledger()}
    return hashes


def meta_context_data(context: MetaContext) -> str:
    """A meta run's final context as canonical JSON, run ids aside (what must be bit-identical)."""
    return json.dumps(context.cache_view(), sort_keys=True)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
