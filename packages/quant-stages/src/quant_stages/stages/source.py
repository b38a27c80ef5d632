"""Where a universe comes from: a named dataset, or a candidates file plus a returns file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from quant_core.errors import DataValidationError, ParamValidationError
from quant_core.params import ParamsValidator
from quant_core.stage import StageParams


if TYPE_CHECKING:
    from quant_stages.datasets import LoadedData

DEFAULT_DATASET = "synthetic"


class SourceParams(StageParams):
    """Either `dataset` (+ `dataset_params`) or both `candidates_path` and `returns_path`.
    Without `dataset` or files, the embedded `synthetic` market (`dataset_params` apply to it)."""

    dataset: str | None = Field(default=None, description="dataset name (see `quant data list`)")
    dataset_params: dict[str, Any] = Field(default_factory=dict, description="the dataset's parameters")
    candidates_path: str | None = Field(default=None, description="JSON list of candidate objects")
    returns_path: str | None = Field(default=None, description="returns matrix, Parquet or CSV")
    max_abs_return: float = Field(default=1.0, gt=0, description="reject |r| above this")
    assume_utc: bool = Field(default=False, description="read naive dates as UTC")

    @model_validator(mode="after")
    def _dataset_accepts_its_params(self) -> SourceParams:
        """The dataset's own parameter schema, checked now: a refused `dataset_params` is a
        parameter error before a run starts, not a failed stage after it wrote its record. An
        unknown dataset is a `DatasetNotFoundError` (not a pydantic error: it passes through)."""
        if self.uses_files:
            return self
        from quant_stages.datasets import find_dataset

        name = self.dataset or DEFAULT_DATASET
        try:
            ParamsValidator(find_dataset(name).params_schema, owner=f"dataset {name}").validate(self.dataset_params)
        except ParamValidationError as exc:
            location = ("dataset_params", *(exc.param.split(".") if exc.param else ()))
            raise ValidationError.from_exception_data(
                "SourceParams",
                [InitErrorDetails(type=PydanticCustomError(exc.rule or "dataset_params", "{message}", {"message": str(exc)}), loc=location, input=exc.value)],
            ) from None
        return self

    @model_validator(mode="after")
    def _one_source(self) -> SourceParams:
        paths = (self.candidates_path, self.returns_path)
        if any(paths) and not all(paths):
            missing = "returns_path" if self.candidates_path else "candidates_path"
            raise _field_error(missing, None, "missing_path", f"files need both candidates_path and returns_path; {missing} is missing")
        if all(paths) and (self.dataset is not None or self.dataset_params):
            field = "dataset" if self.dataset is not None else "dataset_params"
            raise _field_error(field, getattr(self, field), "two_sources", f"give either {field} or candidates_path/returns_path, not both")
        return self

    @property
    def uses_files(self) -> bool:
        return self.candidates_path is not None


def _field_error(field: str, value: Any, kind: str, message: str) -> ValidationError:
    """A cross-field rule's error located at the field it is about (a model validator's own
    errors have no location), so that the parameter error names that parameter."""
    return ValidationError.from_exception_data(
        "SourceParams", [InitErrorDetails(type=PydanticCustomError(kind, message), loc=(field,), input=value)]
    )


def file_digests(*paths: str | None) -> dict[str, str]:
    """Content hashes of the given files, for the cache key (a missing file is a clear error)."""
    digests = {}
    for path in paths:
        if path is None:
            continue
        try:
            digests[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except FileNotFoundError:
            raise DataValidationError("file not found", source=path, rule="file-not-found") from None
        except IsADirectoryError:
            raise DataValidationError("is a directory, expected a file", source=path, rule="not-a-file") from None
    return digests


def load_source(params: SourceParams) -> LoadedData:
    from quant_stages.data.candidates import read_candidates
    from quant_stages.data.returns import read_returns
    from quant_stages.datasets import LoadedData, load_dataset

    if params.uses_files:
        candidates = read_candidates(params.candidates_path)  # type: ignore[arg-type]
        returns = read_returns(
            params.returns_path, max_abs_return=params.max_abs_return, assume_utc=params.assume_utc  # type: ignore[arg-type]
        )
        return LoadedData(candidates=candidates, returns=returns)
    return load_dataset(params.dataset or DEFAULT_DATASET, params.dataset_params)
