"""selection.clustering: hierarchical clustering on correlation distance."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from quant_core.context import SelectionContext
from quant_core.stage import Stage, StageOutputs, StageParams



class ClusteringParams(StageParams):
    lookbacks: list[int] = Field(default_factory=lambda: [60, 120, 250], min_length=1, description="correlation windows (days); those the data supports are averaged")
    method: Literal["ward", "average", "complete", "single"] = Field(default="ward", description="linkage method")
    distance_threshold: float = Field(default=0.5, gt=0, le=1.0, description="cut the dendrogram at this distance")
    max_clusters: int = Field(default=20, ge=1, description="cap on the number of clusters")
    min_periods: int = Field(default=20, ge=2, description="minimum common observations per pair")


class Clustering(Stage[SelectionContext]):
    """Hierarchical clustering on the correlation distance sqrt(0.5 (1 - rho)) (Mantegna 1999),
    averaged over several lookbacks, linkage configurable, cut at a distance threshold with a cap
    on the number of clusters. Cluster ids are deterministic and do not depend on column order.
    """

    id = "selection.clustering"
    version = "1"
    tags = ("selection",)
    context_type = SelectionContext
    Params = ClusteringParams

    class Outputs(StageOutputs):
        clusters: dict[str, list[str]]

    def execute(self, context: SelectionContext) -> SelectionContext:
        from quant_stages.kernels.clustering import cluster_assets
        from quant_stages.stages.inputs import returns_of

        p = self.params
        clusters = cluster_assets(
            returns_of(self.artifacts, context), lookbacks=tuple(p.lookbacks), method=p.method,
            distance_threshold=p.distance_threshold, max_clusters=p.max_clusters, min_periods=p.min_periods,
        )
        return context.model_copy(update={"clusters": clusters})
