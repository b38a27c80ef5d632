"""Issue point 13: one error hierarchy, with exit codes, readable messages and fields that survive
pickling (errors cross process, Ray and DBOS boundaries)."""

from __future__ import annotations

import pickle

import pytest

import quant_core
from quant_core import (
    ArtifactCorruptedError,
    ArtifactError,
    ArtifactNotFoundError,
    ContextKindError,
    DatasetNotFoundError,
    DataValidationError,
    EntryPointError,
    ExecutorNotFoundError,
    MissingPackageError,
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

#: class -> (the built-in it also is, exit code)
HIERARCHY: dict[type[QuantError], tuple[type[Exception], int]] = {
    NotFoundError: (KeyError, 3),
    StageNotFoundError: (KeyError, 3),
    PipelineNotFoundError: (KeyError, 3),
    ExecutorNotFoundError: (KeyError, 3),
    MissingPackageError: (Exception, 3),
    ProfileNotFoundError: (KeyError, 3),
    DatasetNotFoundError: (KeyError, 3),
    RunNotFoundError: (KeyError, 3),
    ParamValidationError: (ValueError, 2),
    URIError: (ValueError, 2),
    InvalidRunIdError: (ValueError, 2),
    RunConflictError: (ValueError, 2),
    ContextKindError: (TypeError, 2),
    PipelineValidationError: (ValueError, 2),
    DataValidationError: (ValueError, 2),
    RegistryError: (Exception, 2),
    EntryPointError: (Exception, 1),
    ArtifactError: (Exception, 1),
    ArtifactNotFoundError: (KeyError, 1),
    ArtifactCorruptedError: (Exception, 1),
    StageFailedError: (RuntimeError, 4),
    SleeveFailureError: (RuntimeError, 5),
}


@pytest.mark.parametrize("error_class", list(HIERARCHY), ids=lambda c: c.__name__)
def test_every_error_is_a_quant_error_with_its_builtin_base_and_exit_code(error_class: type[QuantError]) -> None:
    builtin, exit_code = HIERARCHY[error_class]
    assert issubclass(error_class, QuantError)
    assert issubclass(error_class, builtin)
    assert error_class.exit_code == exit_code
    assert error_class.__name__ in quant_core.__all__


def test_the_hierarchy_has_no_unlisted_error() -> None:
    exported = {getattr(quant_core, n) for n in quant_core.__all__}
    errors = {c for c in exported if isinstance(c, type) and issubclass(c, QuantError) and c is not QuantError}
    assert errors == set(HIERARCHY)


def test_not_found_errors_read_as_sentences_not_key_reprs() -> None:
    error = ProfileNotFoundError("crypto_lng", ["crypto_long", "equities"])
    assert str(error) == "unknown profile 'crypto_lng'; did you mean 'crypto_long'?"
    assert (error.name, error.suggestions) == ("crypto_lng", ["crypto_long"])
    assert str(RunNotFoundError("x", [])) == "unknown run 'x'"


def test_data_validation_error_names_source_column_and_row() -> None:
    error = DataValidationError("value_traded must be >= 0", source="data/c.json", column="value_traded", row=4, rule="minimum")
    assert str(error) == "data/c.json, column 'value_traded', row 4: value_traded must be >= 0"
    assert str(DataValidationError("empty file")) == "empty file"


def test_stage_and_sleeve_failures_carry_their_details() -> None:
    stage_error = StageFailedError("selection.features", "run-1", ValueError("bad window"))
    assert (stage_error.stage_id, stage_error.run_id, stage_error.cause) == ("selection.features", "run-1", "ValueError: bad window")
    assert str(stage_error) == "stage 'selection.features' failed in run 'run-1': ValueError: bad window"
    sleeve_error = SleeveFailureError({"zeta": "boom", "alpha": "bang"}, run_id="meta-1")
    assert str(sleeve_error) == "2 sleeve(s) failed in run 'meta-1': alpha: bang; zeta: boom"


EXAMPLES: list[QuantError] = [
    StageNotFoundError("toy.scal", ["toy.scale"]),
    ExecutorNotFoundError("ray", ["local"]),
    ParamValidationError("bad n", param="n", value=0, rule="minimum", stage_id="toy.seed"),
    URIError("bad uri", param="uri", value="http://x", rule="scheme"),
    DataValidationError("negative", source="f.csv", column="c", row=3, rule="minimum"),
    EntryPointError("quant.stages", "broken", "nowhere:X", "ModuleNotFoundError: nowhere"),
    ArtifactNotFoundError("artifact abc is not in the store"),
    StageFailedError("toy.scale", "run-1", "RuntimeError: boom"),
    SleeveFailureError({"alpha": "boom", "gamma": "bang"}, run_id="meta-1"),
]


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling_with_their_fields(error: QuantError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.args == error.args
    assert vars(again) == vars(error)
