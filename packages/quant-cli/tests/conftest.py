"""Fixtures: the `quant` app wired to quant-core's toy stages, pipelines and profiles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from quant_core import ProfileCatalog, QuantSDK
from quant_core.context import MetaContext
from quant_core.pipeline import FanOutStep, PipelineSpec
from quant_core.registry import StageRegistry
from quant_core.stage import Stage
from quant_core.testing import GATED, MarkerGate, toy_profiles, toy_registry
from typer.testing import CliRunner, Result

from quant_cli.app import build_app

REPORT_HTML = b"<!doctype html><html><body><h1>toy meta report</h1></body></html>"


class ToyReport(Stage[MetaContext]):
    """Writes a meta report shaped like `meta.report`'s: file refs plus small JSON tables."""

    id = "test.report"
    context_type = MetaContext

    def execute(self, context: MetaContext) -> MetaContext:
        html = self.artifacts.put(REPORT_HTML, "text/html")
        markdown = self.artifacts.put(b"# toy meta report\n", "text/markdown")
        report = {
            "html": html.model_dump(mode="json"),
            "markdown": markdown.model_dump(mode="json"),
            "metrics": {"sharpe": 1.25, "max_drawdown": -0.1},
            "sleeves": [
                {"name": name, "weight": weight, "metrics": {"total": float(weight * 100)}}
                for name, weight in sorted(context.meta_weights.items())
            ],
            "top_assets": [{"symbol": "BINANCE:BTCUSDT", "weight": 0.125, "sleeve": "alpha"}],
        }
        return context.model_copy(update={"report": report})


META_REPORT = PipelineSpec.of(
    "test.meta_report", FanOutStep(pipeline="toy.portfolio"), "toy.meta_total", "test.report", context_kind="meta"
)


def cli_test_registry() -> StageRegistry:
    """The toy registry plus the two test stages and their pipelines."""
    registry = toy_registry()
    registry.register(MarkerGate)
    registry.register(ToyReport)
    registry.register_pipeline(GATED)
    registry.register_pipeline(META_REPORT)
    return registry


Invoke = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "quant-home"


@pytest.fixture
def cli(home: Path) -> Invoke:
    """`cli("stage", "list", "--json")` runs `quant --home <tmp> stage list --json` on the toy SDK."""

    def invoke(
        *args: str,
        failing_sleeves: Sequence[str] = (),
        toy_only: bool = False,
        use_home_option: bool = True,
        env: dict[str, str] | None = None,
    ) -> Result:
        """`toy_only`: quant-core's toy registry alone, whose stages worker processes can import."""

        def factory(resolved_home: Any) -> QuantSDK:
            return QuantSDK(
                home=resolved_home,
                registry=toy_registry() if toy_only else cli_test_registry(),
                profiles=ProfileCatalog([toy_profiles(failing_sleeves=tuple(failing_sleeves))]),
            )

        prefix = ["--home", str(home)] if use_home_option else []
        return CliRunner().invoke(build_app(factory), [*prefix, *args], env=env)

    return invoke


@pytest.fixture
def report_html() -> bytes:
    return REPORT_HTML
