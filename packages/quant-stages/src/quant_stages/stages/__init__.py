"""Every stage of quant-stages, by id. Registered through the `quant.stages` entry point."""

from quant_stages.stages.backtest import Backtest
from quant_stages.stages.clustering import Clustering
from quant_stages.stages.discovery import DiscoverUniverse
from quant_stages.stages.features import Features
from quant_stages.stages.inference import Inference
from quant_stages.stages.ingestion import Ingestion
from quant_stages.stages.meta import MetaFlatten, MetaOptimize, MetaReturns
from quant_stages.stages.optimize import Optimize
from quant_stages.stages.policy import Policy
from quant_stages.stages.report import MetaReport
from quant_stages.stages.synthesis import Synthesis

SELECTION_STAGES = (DiscoverUniverse, Ingestion, Features, Inference, Clustering, Policy, Synthesis)
ALLOCATION_STAGES = (Optimize, Backtest)
META_STAGES = (MetaReturns, MetaOptimize, MetaFlatten, MetaReport)
ALL_STAGES = SELECTION_STAGES + ALLOCATION_STAGES + META_STAGES
STAGE_CLASSES = {stage.SPEC.id: stage for stage in ALL_STAGES}

__all__ = ["ALLOCATION_STAGES", "ALL_STAGES", "META_STAGES", "SELECTION_STAGES", "STAGE_CLASSES"]
