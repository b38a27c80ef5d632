"""Where a universe comes from: a named dataset, or a candidates file plus a returns file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from quant_core.errors import DataValidationError, ParamValidationError
from quant_core.stage import StageParams

from quant_stages.data.candidates import Candidate, read_candidates
from quant_stages.data.returns import read_returns
from quant_stages.datasets import LoadedData, load_dataset

DEFAULT_DATASET = "synthetic"


class SourceParams(StageParams):
    """Either `dataset` (+ `dataset_params`) or both `candidates_path` and `returns_path`.
    With none of them, the embedded `synthetic` market."""

    dataset: str | None = Field(default=None, description="dataset name (see `quant data list`)")
    dataset_params: dict[str, Any] = Field(default_factory=dict, description="the dataset's parameters")
    candidates_path: str | None = Field(default=None, description="JSON list of candidate objects")
    returns_path: str | None = Field(default=None, description="returns matrix, Parquet or CSV")
    max_abs_return: float = Field(default=1.0, gt=0, description="reject |r| above this")
    assume_utc: bool = Field(default=False, description="read naive dates as UTC")

    @model_validator(mode="after")
    def _one_source(self) -> SourceParams:
        paths = (self.candidates_path, self.returns_path)
        if any(paths) and not all(paths):
            missing = "returns_path" if self.candidates_path else "candidates_path"
            raise ValueError(f"files need both candidates_path and returns_path; {missing} is missing")
        if all(paths) and self.dataset is not None:
            raise ValueError("give either dataset or candidates_path/returns_path, not both")
        return self

    @property
    def uses_files(self) -> bool:
        return self.candidates_path is not None


def file_digests(*paths: str | None) -> dict[str, str]:
    """Content hashes of the given files, for the cache key (a missing file is a clear error)."""
    digests = {}
    for path in paths:
        if path is None:
            continue
        try:
            digests[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except FileNotFoundError:
            raise DataValidationError("file not found", source=path, rule="missing-file") from None
        except IsADirectoryError:
            raise DataValidationError("is a directory, expected a file", source=path, rule="not-a-file") from None
    return digests


def load_source(params: SourceParams) -> LoadedData:
    if params.uses_files:
        candidates: list[Candidate] = read_candidates(params.candidates_path)  # type: ignore[arg-type]
        returns = read_returns(
            params.returns_path, max_abs_return=params.max_abs_return, assume_utc=params.assume_utc  # type: ignore[arg-type]
        )
        return LoadedData(candidates=candidates, returns=returns)
    name = params.dataset or DEFAULT_DATASET
    if params.dataset is None and params.dataset_params:
        raise ParamValidationError(
            "dataset_params given without dataset", param="dataset_params", rule="requires-dataset"
        )
    return load_dataset(name, params.dataset_params)
