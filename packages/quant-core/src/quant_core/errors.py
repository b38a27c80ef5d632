"""One error hierarchy for the whole product.

The CLI maps each class to an exit code (see `QuantError.exit_code`), so a user mistake becomes one
clear line and a failure inside a stage is told apart from a bad parameter.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any


class QuantError(Exception):
    """Base of every error quant raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Errors cross process, Ray and DBOS boundaries by pickle. The default rebuilds them as
        # `cls(message)`, which breaks every subclass whose constructor takes other arguments;
        # rebuilding from the instance's fields works for all of them.
        return (_restore_error, (type(self), self.message, self.__dict__.copy()))


def _restore_error(cls: type[QuantError], message: str, state: dict[str, Any]) -> QuantError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Names among `choices` that look like `name`, best first (for "did you mean" hints)."""
    return difflib.get_close_matches(name, sorted(set(choices)), n=n, cutoff=0.5)


def _did_you_mean(suggestions: Sequence[str]) -> str:
    return f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""


class NotFoundError(QuantError, KeyError):
    """Something named by the user does not exist. A KeyError, so `except KeyError` still works."""

    exit_code = 3
    kind = "item"
    #: Which distribution provides a well-known name, for the "install X" hint when it is missing.
    PROVIDERS: dict[str, str] = {}

    def __init__(self, name: str, available: Iterable[str] = ()) -> None:
        self.name = name
        self.suggestions = close_matches(name, available)
        super().__init__(f"unknown {self.kind} {name!r}{_did_you_mean(self.suggestions)}")
        provider = self.PROVIDERS.get(name)
        if provider:
            self.message += f" (it is provided by the package {provider!r}: pip install {provider})"
            self.args = (self.message,)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message


#: The distribution of the built-in stages, pipelines and demo profiles (quant-stages' own tests
#: check these names are the ones it registers).
STAGES_DISTRIBUTION = "quant-stages"
BUILTIN_STAGES = (
    "discovery.universe", "selection.ingestion", "selection.features", "selection.inference",
    "selection.clustering", "selection.policy", "selection.synthesis", "allocation.optimize",
    "allocation.backtest", "meta.returns", "meta.optimize", "meta.flatten", "meta.report",
)
BUILTIN_PIPELINES = ("selection.full", "portfolio.full", "meta.full")
BUILTIN_PROFILES = ("demo", "demo_crypto", "demo_equities", "demo_mixed")


class StageNotFoundError(NotFoundError):
    kind = "stage"
    PROVIDERS = dict.fromkeys(BUILTIN_STAGES, STAGES_DISTRIBUTION)


class PipelineNotFoundError(NotFoundError):
    kind = "pipeline"
    PROVIDERS = dict.fromkeys(BUILTIN_PIPELINES, STAGES_DISTRIBUTION)


class ExecutorNotFoundError(NotFoundError):
    kind = "executor"
    PROVIDERS = {
        "ray": "quant-compute-ray",
        "prefect": "quant-flows-prefect",
        "dbos": "quant-flows-dbos",
    }


class MissingPackageError(QuantError):
    """Something asked for needs a package that is not installed; says what to install."""

    exit_code = 3

    def __init__(self, what: str, requirement: str) -> None:
        super().__init__(f"{what} needs a package that is not installed: pip install '{requirement}'")
        self.requirement = requirement


class ProfileNotFoundError(NotFoundError):
    kind = "profile"
    PROVIDERS = dict.fromkeys(BUILTIN_PROFILES, STAGES_DISTRIBUTION)


class DatasetNotFoundError(NotFoundError):
    kind = "dataset"


class RunNotFoundError(NotFoundError):
    kind = "run"


class ParamValidationError(QuantError, ValueError):
    """A parameter (of a stage, URI, profile or run) broke a rule. Names the parameter and rule."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        value: Any = None,
        rule: str | None = None,
        stage_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.param = param
        self.value = value
        self.rule = rule
        self.stage_id = stage_id


class URIError(ParamValidationError):
    """A malformed `quant://` URI."""


class InvalidRunIdError(ParamValidationError):
    """A run id that does not match the allowed pattern."""


class RunConflictError(ParamValidationError):
    """A run id reused for a different pipeline, stage or parameter set."""


class RunLockedError(ParamValidationError):
    """The run id is in use by a run that is still running (it holds the run's lock)."""


class ContextKindError(ParamValidationError, TypeError):
    """A context of one kind given to a stage that takes another (e.g. a meta run's context to a
    selection stage)."""


class PipelineValidationError(QuantError, ValueError):
    """A pipeline spec that cannot run: unknown stage, cycle, bad fan-out."""

    exit_code = 2


class RegistryError(QuantError):
    """The registry was asked to hold something inconsistent (e.g. one id, two classes)."""

    exit_code = 2


class EntryPointError(QuantError):
    """An installed entry point failed to load or did not give what its group expects."""

    exit_code = 1

    def __init__(self, group: str, name: str, value: str, cause: str) -> None:
        super().__init__(f"entry point {name!r} ({value}) in group {group!r} is broken: {cause}")
        self.group = group
        self.entry_point = name


class DataValidationError(QuantError, ValueError):
    """Input data broke a data contract. Names the source (file), the location and the rule."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        row: Any = None,
        rule: str | None = None,
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"{source}" if source else "",
                f"column {column!r}" if column is not None else "",
                f"row {row}" if row is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.column = column
        self.row = row
        self.rule = rule


class ArtifactError(QuantError):
    """The artifact store could not give back what a reference names."""


class ArtifactNotFoundError(ArtifactError, KeyError):
    def __str__(self) -> str:
        return self.message


class StoreError(QuantError):
    """A file of `$QUANT_HOME` (run record, cache entry, artifact, lock) could not be read or
    written as it should. Names the file; `quant store verify` looks at all of them."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class StoreDamagedError(StoreError):
    """A stored file's content is not what was written (a changed byte, a torn line, garbage)."""

    def __init__(self, path: str, reason: str, *, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(
            f"{where} is damaged: {reason} (`quant store verify` checks the whole store)", path=path
        )
        self.reason = reason
        self.line = line


class StoreWriteError(StoreError, OSError):
    """The file system refused a write (disk full, read-only, permissions). What was written
    before stays whole, so the run resumes once the cause is gone. Still an `OSError`."""

    def __init__(self, path: str, cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        code = f" (errno {cause.errno})" if cause.errno is not None else ""
        super().__init__(f"cannot write {path}: {reason}{code}", path=path)
        self.errno = cause.errno


class ArtifactCorruptedError(ArtifactError, StoreDamagedError):
    """An artifact whose bytes do not hash to its name."""


class StageFailedError(QuantError, RuntimeError):
    """A stage raised while executing. Carries the stage id, the run id and the cause."""

    exit_code = 4

    def __init__(
        self, stage_id: str, run_id: str, cause: BaseException | str, *, retryable: bool | None = None
    ) -> None:
        self.stage_id = stage_id
        self.run_id = run_id
        self.cause = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        #: False when the cause is the user's (bad parameters or data): another attempt would
        #: fail the same way, so no executor retries it.
        self.retryable = is_retryable(cause) if retryable is None else retryable
        super().__init__(f"stage {stage_id!r} failed in run {run_id!r}: {self.cause}")


def is_retryable(cause: BaseException | str) -> bool:
    """Whether another attempt of a stage that raised `cause` could succeed: not for a user error
    (a bad parameter or bad data), which fails the same way every time."""
    if isinstance(cause, StageFailedError):
        return cause.retryable
    return not isinstance(cause, (ParamValidationError, DataValidationError))


class SleeveFailureError(QuantError, RuntimeError):
    """One or more sleeves of a meta run failed; lists every failed sleeve with its error."""

    exit_code = 5

    def __init__(self, failures: dict[str, str], run_id: str | None = None) -> None:
        self.failures = dict(failures)
        self.run_id = run_id
        listing = "; ".join(f"{name}: {error}" for name, error in sorted(self.failures.items()))
        where = f" in run {run_id!r}" if run_id else ""
        super().__init__(f"{len(self.failures)} sleeve(s) failed{where}: {listing}")
