"""The built-in pipelines, in registration order (a pipeline is registered after those it uses)."""

from quant_core.pipeline import PipelineSpec

SELECTION_FULL = PipelineSpec.of(
    "selection.full",
    "selection.ingestion", "selection.features", "selection.inference",
    "selection.clustering", "selection.policy", "selection.synthesis",
    description="ingest, compute features, score, cluster, apply the policy, synthesise atoms",
)

PIPELINES = [SELECTION_FULL]
