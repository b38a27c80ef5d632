"""Small real stages and pipelines for testing executors without quant-stages.

Backends use these to prove they run pipelines, fan-outs, retries and failures exactly like the
local executor. Nothing here is registered in the default registry: build one with
`toy_registry()`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import Field

from quant_core.context import MetaContext, RunContext, SelectionContext, SleeveSpec
from quant_core.home import QuantHome
from quant_core.pipeline import FanOutStep, PipelineSpec
from quant_core.profiles import ResolvedProfile
from quant_core.registry import StageRegistry
from quant_core.stage import Stage, StageOutputs, StageParams


class SeedNumbers(Stage[SelectionContext]):
    """Write the numbers 0..n-1 shifted by `offset` as a JSON artifact."""

    id = "toy.seed"
    tags = ("toy",)
    context_type = SelectionContext

    class Params(StageParams):
        n: int = Field(default=5, ge=1, le=10_000)
        offset: float = 0.0

    class Outputs(StageOutputs):
        numbers: dict

    def execute(self, context: SelectionContext) -> SelectionContext:
        ref = self.artifacts.put_json([i + self.params.offset for i in range(self.params.n)])
        return context.model_copy(update={"artifacts": context.with_artifacts(numbers=ref)})


class ScaleNumbers(Stage[SelectionContext]):
    """Multiply the numbers by `factor`; `fail=True` makes it raise (for failure tests)."""

    id = "toy.scale"
    tags = ("toy",)
    context_type = SelectionContext

    class Params(StageParams):
        factor: float = 2.0
        fail: bool = False
        mode: str = Field(default="linear", pattern="^(linear|square)$")

    class Outputs(StageOutputs):
        scaled: dict

    def execute(self, context: SelectionContext) -> SelectionContext:
        if self.params.fail:
            raise RuntimeError("toy.scale was asked to fail")
        numbers = self.artifacts.get_json(context.artifacts["numbers"])
        power = 2 if self.params.mode == "square" else 1
        ref = self.artifacts.put_json([(x**power) * self.params.factor for x in numbers])
        return context.model_copy(update={"artifacts": context.with_artifacts(scaled=ref)})


class SumNumbers(Stage[SelectionContext]):
    """Sum the scaled numbers into `backtest.total` and list them as `winners`."""

    id = "toy.sum"
    tags = ("toy",)
    context_type = SelectionContext

    class Outputs(StageOutputs):
        backtest: dict
        winners: list[str]

    def execute(self, context: SelectionContext) -> SelectionContext:
        scaled = self.artifacts.get_json(context.artifacts["scaled"])
        return context.model_copy(
            update={"backtest": {"total": sum(scaled)}, "winners": [f"N{i}" for i in range(len(scaled))]}
        )


class MetaTotal(Stage[MetaContext]):
    """Weight each succeeded sleeve by its share of the grand total."""

    id = "toy.meta_total"
    tags = ("toy",)
    context_type = MetaContext

    class Outputs(StageOutputs):
        meta_weights: dict[str, float]

    def execute(self, context: MetaContext) -> MetaContext:
        totals = {r.name: float(r.summary["total"]) for r in context.sleeve_results if r.status == "succeeded"}
        grand = sum(totals.values()) or 1.0
        return context.model_copy(update={"meta_weights": {k: v / grand for k, v in sorted(totals.items())}})


class Flaky(Stage[RunContext]):
    """Fails until `marker` exists (it creates it on the first failure): for retry tests."""

    id = "toy.flaky"
    tags = ("toy",)
    retries = 2
    retry_delay_s = 0.0

    class Params(StageParams):
        marker: str

    def execute(self, context: RunContext) -> RunContext:
        marker = Path(self.params.marker)
        if not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError("toy.flaky fails on its first attempt")
        return context.model_copy(update={"params": {**context.params, "flaky": "ok"}})


class MarkerGate(Stage[SelectionContext]):
    """Fails while the file `marker` exists: a failure the user can fix, then resume the run.
    Not in `toy_registry()`; the resume tests of each front end register it with `GATED`."""

    id = "test.gate"
    context_type = SelectionContext

    class Params(StageParams):
        marker: str = "/nonexistent/marker"

    def execute(self, context: SelectionContext) -> SelectionContext:
        if Path(self.params.marker).exists():
            raise RuntimeError(f"gate closed: {self.params.marker} exists")
        return context.model_copy(update={"winners": ["gate-open"]})


class Mutator(Stage[RunContext]):
    """Breaks the contract on purpose: it changes its input context in place."""

    id = "toy.mutate"
    tags = ("toy",)

    def execute(self, context: RunContext) -> RunContext:
        context.params["mutated"] = True
        return context.model_copy()


class Noop(Stage[RunContext]):
    """Does nothing but return a copy: measures executor overhead."""

    id = "toy.noop"
    tags = ("toy",)

    class Params(StageParams):
        index: int = 0

    def execute(self, context: RunContext) -> RunContext:
        return context.model_copy(update={"params": {**context.params, "last": self.params.index}})


class WaitForFile(Stage[RunContext]):
    """Signals that it started (creates `<release>.started`), then waits until the file `release`
    exists: holds a run open for lock and crash tests, in this process or another. Not in
    `toy_registry()`: register it where it is wanted."""

    id = "toy.wait"
    tags = ("toy",)

    class Params(StageParams):
        release: str
        poll_s: float = Field(default=0.01, gt=0)

    def execute(self, context: RunContext) -> RunContext:
        release = Path(self.params.release)
        release.with_name(f"{release.name}.started").touch()
        while not release.exists():
            time.sleep(self.params.poll_s)
        return context.model_copy()


TOY_STAGES = (SeedNumbers, ScaleNumbers, SumNumbers, MetaTotal, Flaky, Mutator, Noop)

TOY_PORTFOLIO = PipelineSpec.of("toy.portfolio", "toy.seed", "toy.scale", "toy.sum")
TOY_META = PipelineSpec.of(
    "toy.meta", FanOutStep(pipeline="toy.portfolio"), "toy.meta_total", context_kind="meta"
)


#: A portfolio whose second step is `MarkerGate` (give `test.gate.marker` to close it).
GATED = PipelineSpec.of("test.gated", "toy.seed", {"stage": "test.gate", "params": {"marker": "/nonexistent/marker"}})


def toy_registry() -> StageRegistry:
    registry = StageRegistry()
    for stage in TOY_STAGES:
        registry.register(stage)
    registry.register_pipeline(TOY_PORTFOLIO)
    registry.register_pipeline(TOY_META)
    return registry


class ToyProfiles:
    """An in-memory profile provider."""

    def __init__(self, profiles: dict[str, ResolvedProfile]) -> None:
        self.profiles = profiles

    def names(self, home: QuantHome) -> list[str]:
        return sorted(self.profiles)

    def resolve(self, name: str, home: QuantHome) -> ResolvedProfile | None:
        return self.profiles.get(name)


def toy_profiles(failing_sleeves: tuple[str, ...] = ()) -> ToyProfiles:
    """Profiles `small`, `large` and the meta profile `trio` (three sleeves; any named in
    `failing_sleeves` gets `toy.scale.fail=true`)."""
    small = ResolvedProfile(name="small", stage_params={"toy.seed": {"n": 3}})
    large = ResolvedProfile(name="large", stage_params={"toy.seed": {"n": 8}, "toy.scale": {"factor": 0.5}})
    sleeves = [
        SleeveSpec(
            name=name, profile=profile,
            stage_params={"toy.scale": {"fail": True}} if name in failing_sleeves else {},
        )
        for name, profile in (("alpha", "small"), ("beta", "large"), ("gamma", "small"))
    ]
    trio = ResolvedProfile(name="trio", kind="meta", sleeves=sleeves)
    return ToyProfiles({"small": small, "large": large, "trio": trio})


#: Profiles of the real pipelines (they need quant-stages) small enough for a test: a portfolio on
#: 24 synthetic assets, and a meta profile of two sleeves of it (the second with another engine).
TINY_SLEEVE_PROFILE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 24, n_days = 500 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
TINY_META_PROFILE = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)


def write_tiny_profiles(home: Path) -> Path:
    """`tiny_sleeve` and `tiny_meta` in `home/profiles` (for `portfolio.full` and `meta.full`)."""
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "tiny_sleeve.toml").write_text(TINY_SLEEVE_PROFILE, encoding="utf-8")
    (home / "profiles" / "tiny_meta.toml").write_text(TINY_META_PROFILE, encoding="utf-8")
    return home


#: Span attributes that differ between two runs of the same work (where and when it ran).
VOLATILE_SPAN_ATTRIBUTES = frozenset({"quant.run_id", "quant.parent_run_id", "quant.node", "quant.worker"})


def span_tree(spans: Any, *, drop: frozenset[str] = VOLATILE_SPAN_ATTRIBUTES) -> list[dict[str, Any]]:
    """Finished OpenTelemetry spans (e.g. from an in-memory exporter) as a tree in a canonical
    order, so that runs of one pipeline on different executors compare equal:

        [{"name": "quant.run meta.full", "attributes": {...}, "status": "OK", "children": [...]}]

    Children are ordered by step, then name (sleeves run in any order); attributes outside the
    `quant.` namespace and those in `drop` are left out. Duck-typed: imports no OpenTelemetry."""
    nodes = {
        span.context.span_id: {
            "name": span.name,
            "attributes": {k: v for k, v in span.attributes.items() if k.startswith("quant.") and k not in drop},
            "status": span.status.status_code.name,
            "children": [],
            "trace_id": span.context.trace_id,
        }
        for span in spans
    }
    roots = []
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        (nodes[parent]["children"] if parent in nodes else roots).append(nodes[span.context.span_id])

    def order(node: dict[str, Any]) -> tuple[Any, ...]:
        attributes = node["attributes"]
        return (attributes.get("quant.step", 0), attributes.get("quant.attempt", 0), node["name"])

    def canonical(node: dict[str, Any]) -> dict[str, Any]:
        children = sorted((canonical(child) for child in node["children"]), key=order)
        return {k: v for k, v in node.items() if k != "trace_id"} | {"children": children}

    return sorted((canonical(root) for root in roots), key=order)


def scrape_metrics(url: str, *, timeout: float = 60) -> list[tuple[str, dict[str, str], float]]:
    """Every sample a Prometheus /metrics endpoint serves, as (sample name, labels, value), read
    over real HTTP and parsed by prometheus-client's own parser (quant-core[prometheus])."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
