"""The built-in pipelines, in registration order (a pipeline is registered after those it uses)."""

from quant_core.pipeline import FanOutStep, PipelineSpec

SELECTION_FULL = PipelineSpec.of(
    "selection.full",
    "selection.ingestion", "selection.features", "selection.inference",
    "selection.clustering", "selection.policy", "selection.synthesis",
    description="ingest, compute features, score, cluster, apply the policy, synthesise atoms",
)

PORTFOLIO_FULL = PipelineSpec.of(
    "portfolio.full",
    {"include": "selection.full"}, "allocation.optimize", "allocation.backtest",
    description="selection, allocation and the walk-forward backtest of one sleeve",
)

META_FULL = PipelineSpec.of(
    "meta.full",
    FanOutStep(pipeline="portfolio.full", collect=("backtest_returns", "backtest_weights", "weights")),
    "meta.returns", "meta.optimize", "meta.flatten", "meta.report",
    context_kind="meta",
    description="one portfolio.full per sleeve (strict success gate), then the meta-portfolio and its report",
)

PIPELINES = [SELECTION_FULL, PORTFOLIO_FULL, META_FULL]
