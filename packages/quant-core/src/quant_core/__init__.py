"""quant-core: registry, specs, contexts, artifacts, runs, cache, URIs, SDK and the local executor.

Importing this package imports pydantic and jsonschema only: never numpy, pandas, ray, prefect
or dbos.
"""

from quant_core.artifacts import ArtifactRef, ArtifactStore
from quant_core.context import (
    AuditEvent,
    MetaContext,
    RunContext,
    SelectionContext,
    SleeveResult,
    SleeveSpec,
    context_from_data,
    context_from_json,
)
from quant_core.errors import (
    ArtifactCorruptedError,
    ArtifactError,
    ArtifactNotFoundError,
    ContextKindError,
    DataValidationError,
    DatasetNotFoundError,
    EntryPointError,
    ExecutorNotFoundError,
    InvalidRunIdError,
    NotFoundError,
    ParamValidationError,
    PipelineNotFoundError,
    PipelineValidationError,
    ProfileNotFoundError,
    QuantError,
    RegistryError,
    RunConflictError,
    RunNotFoundError,
    SleeveFailureError,
    StageFailedError,
    StageNotFoundError,
    URIError,
)
from quant_core.execution import Runtime
from quant_core.executors.base import Executor
from quant_core.home import QuantHome
from quant_core.pipeline import FanOutStep, IncludeStep, PipelineSpec, StageStep
from quant_core.profiles import ProfileCatalog, ProfileProvider, ResolvedProfile
from quant_core.registry import StageRegistry
from quant_core.sdk import PipelinePlan, QuantSDK, RunResult
from quant_core.stage import Stage, StageOutputs, StageParams, StageSpec
from quant_core.uri import QuantURI, parse_uri, to_uri

__all__ = [
    "ArtifactCorruptedError", "ArtifactError", "ArtifactNotFoundError", "ArtifactRef", "ArtifactStore", "ContextKindError",
    "AuditEvent", "DataValidationError", "DatasetNotFoundError", "EntryPointError", "Executor",
    "ExecutorNotFoundError", "FanOutStep", "IncludeStep", "InvalidRunIdError", "MetaContext",
    "NotFoundError", "ParamValidationError", "PipelineNotFoundError", "PipelinePlan", "PipelineSpec",
    "PipelineValidationError", "ProfileCatalog", "ProfileNotFoundError", "ProfileProvider",
    "QuantError", "QuantHome", "QuantSDK", "QuantURI", "RegistryError", "ResolvedProfile",
    "RunConflictError", "RunContext", "RunNotFoundError", "RunResult", "Runtime",
    "SelectionContext", "SleeveFailureError", "SleeveResult", "SleeveSpec", "Stage",
    "StageFailedError", "StageNotFoundError", "StageOutputs", "StageParams", "StageRegistry",
    "StageSpec", "StageStep", "URIError", "context_from_data", "context_from_json", "parse_uri",
    "to_uri",
]
