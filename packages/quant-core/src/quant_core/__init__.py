"""quant-core: registry, specs, contexts, artifacts, runs, cache, URIs, SDK and the local executor.

Importing this package imports pydantic and jsonschema only: never numpy, pandas, ray, prefect
or dbos. Its names are loaded on first use (PEP 562), so `import quant_core.home` or a
`quant --help` does not pay for the SDK, the registry and jsonschema.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "ArtifactCorruptedError": "quant_core.errors",
    "ArtifactError": "quant_core.errors",
    "ArtifactNotFoundError": "quant_core.errors",
    "ArtifactRef": "quant_core.artifacts",
    "ArtifactStore": "quant_core.artifacts",
    "AuditEvent": "quant_core.context",
    "ContextKindError": "quant_core.errors",
    "DataValidationError": "quant_core.errors",
    "DatasetNotFoundError": "quant_core.errors",
    "EntryPointError": "quant_core.errors",
    "Executor": "quant_core.executors.base",
    "ExecutorNotFoundError": "quant_core.errors",
    "FanOutStep": "quant_core.pipeline",
    "IncludeStep": "quant_core.pipeline",
    "InvalidRunIdError": "quant_core.errors",
    "MetaContext": "quant_core.context",
    "MissingPackageError": "quant_core.errors",
    "QuantConfig": "quant_core.config",
    "NotFoundError": "quant_core.errors",
    "ParamValidationError": "quant_core.errors",
    "PipelineNotFoundError": "quant_core.errors",
    "PipelinePlan": "quant_core.sdk",
    "PipelineSpec": "quant_core.pipeline",
    "PipelineValidationError": "quant_core.errors",
    "ProfileCatalog": "quant_core.profiles",
    "ProfileNotFoundError": "quant_core.errors",
    "ProfileProvider": "quant_core.profiles",
    "QuantError": "quant_core.errors",
    "QuantHome": "quant_core.home",
    "QuantSDK": "quant_core.sdk",
    "QuantURI": "quant_core.uri",
    "RegistryError": "quant_core.errors",
    "ResolvedProfile": "quant_core.profiles",
    "RunConflictError": "quant_core.errors",
    "RunContext": "quant_core.context",
    "RunNotFoundError": "quant_core.errors",
    "RunResult": "quant_core.sdk",
    "Runtime": "quant_core.execution",
    "Telemetry": "quant_core.telemetry",
    "SelectionContext": "quant_core.context",
    "SleeveFailureError": "quant_core.errors",
    "SleeveResult": "quant_core.context",
    "SleeveSpec": "quant_core.context",
    "Stage": "quant_core.stage",
    "StageFailedError": "quant_core.errors",
    "StageNotFoundError": "quant_core.errors",
    "StageOutputs": "quant_core.stage",
    "StageParams": "quant_core.stage",
    "StageRegistry": "quant_core.registry",
    "StageSpec": "quant_core.stage",
    "StageStep": "quant_core.pipeline",
    "URIError": "quant_core.errors",
    "context_from_data": "quant_core.context",
    "context_from_json": "quant_core.context",
    "parse_uri": "quant_core.uri",
    "to_uri": "quant_core.uri",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quant_core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
