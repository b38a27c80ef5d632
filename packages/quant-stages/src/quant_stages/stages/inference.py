"""selection.inference: feature probabilities and the MPS score."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from quant_core.context import SelectionContext
from quant_core.stage import Stage, StageOutputs, StageParams

from quant_stages.kernels.inference_defaults import DEFAULT_METHODS, DEFAULT_WEIGHTS

#: Features whose sign depends on the side of the position.
SIDED_FEATURES = ("momentum", "skew")

Method = Literal["rank", "inverse_rank", "normal_cdf", "inverse_normal_cdf"]


class InferenceParams(StageParams):
    methods: dict[str, Method] = Field(default_factory=lambda: dict(DEFAULT_METHODS), description="probability mapping per feature")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS), description="weight of each feature's log-probability")


class Inference(Stage[SelectionContext]):
    """Map each feature to a probability (rank, inverse rank or normal CDF, per feature) and score
    each candidate by the weighted sum of log-probabilities (the MPS score, a naive-Bayes style
    log-likelihood as in multi-factor scoring). Persistence (Hurst above 0.5) scores higher.

    Features are scored from the position's side: for a candidate whose direction is `short`,
    momentum and skew enter with their sign flipped (a falling asset is a rising short). The
    tail measures (CVaR, kurtosis) stay the asset's own.
    """

    id = "selection.inference"
    version = "2"
    tags = ("selection",)
    context_type = SelectionContext
    Params = InferenceParams

    class Outputs(StageOutputs):
        scores: dict

    def execute(self, context: SelectionContext) -> SelectionContext:
        from quant_stages.frames import get_frame, put_frame
        from quant_stages.kernels.inference import mps_score
        from quant_stages.stages.inputs import candidate_table, candidates_of

        features = get_frame(self.artifacts, context.features, what="features (run selection.features first)")
        directions = candidate_table(candidates_of(self.artifacts, context))["direction"].reindex(features.index)
        sign = directions.map({"short": -1.0}).fillna(1.0)
        features = features.assign(**{c: features[c] * sign for c in SIDED_FEATURES if c in features})
        scored = mps_score(features, self.params.methods, self.params.weights)
        ref = put_frame(self.artifacts, scored)
        return context.model_copy(update={"scores": ref, "artifacts": context.with_artifacts(scores=ref)})
