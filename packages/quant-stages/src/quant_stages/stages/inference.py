"""selection.inference: feature probabilities and the MPS score."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from quant_core.context import SelectionContext
from quant_core.stage import Stage, StageOutputs, StageParams

from quant_stages.kernels.inference_defaults import DEFAULT_METHODS, DEFAULT_WEIGHTS

Method = Literal["rank", "inverse_rank", "normal_cdf", "inverse_normal_cdf"]


class InferenceParams(StageParams):
    methods: dict[str, Method] = Field(default_factory=lambda: dict(DEFAULT_METHODS), description="probability mapping per feature")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS), description="weight of each feature's log-probability")


class Inference(Stage[SelectionContext]):
    """Map each feature to a probability (rank, inverse rank or normal CDF, per feature) and score
    each candidate by the weighted sum of log-probabilities (the MPS score, a naive-Bayes style
    log-likelihood as in multi-factor scoring). Persistence (Hurst above 0.5) scores higher.
    """

    id = "selection.inference"
    version = "1"
    tags = ("selection",)
    context_type = SelectionContext
    Params = InferenceParams

    class Outputs(StageOutputs):
        scores: dict

    def execute(self, context: SelectionContext) -> SelectionContext:
        from quant_stages.frames import get_frame, put_frame
        from quant_stages.kernels.inference import mps_score

        features = get_frame(self.artifacts, context.features, what="features (run selection.features first)")
        scored = mps_score(features, self.params.methods, self.params.weights)
        ref = put_frame(self.artifacts, scored)
        return context.model_copy(update={"scores": ref, "artifacts": context.with_artifacts(scores=ref)})
