"""The run record: the same folder for every run on every executor.

    runs/<run_id>/manifest.json        what ran, with what, where, and how it ended
    runs/<run_id>/ledger.jsonl         one line per stage attempt
    runs/<run_id>/contexts.jsonl       the context after each step, one line each:
                                       {"name": "NNN-<step id>", "context": {...}} (000-input: the start)
    runs/<run_id>/lock                 held (flock) by the process running it; who that is

Every manifest and line is sealed (`quant_core.sealed`): it carries the checksum of its own text,
so a changed byte is found and named, never read as a different record.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from quant_core.artifacts import fsync_folder, write_atomic
from quant_core.context import RUN_ID_PATTERN, RunContext, context_from_data, derived_sleeve_run_id
from quant_core.errors import (
    InvalidRunIdError,
    RunConflictError,
    RunNotFoundError,
    StoreDamagedError,
)
from quant_core.journal import (
    LOCK_FILE_NAME,
    append_line,
    drop_torn_tail,
    fsync_file,
    hold_run_lock,
    run_lock_held,
    this_host,
    utc_now_iso,
)
from quant_core.sealed import SealBroken, load_sealed, seal, unseal

_RUN_ID_RE = re.compile(RUN_ID_PATTERN)
INPUT_CONTEXT_NAME = "000-input"
MAX_RUN_ID_LENGTH = 128
VERSIONED_DISTRIBUTIONS = (
    "quant-core", "quant-stages", "quant-cli", "quant-compute-ray", "quant-flows-prefect",
    "quant-flows-dbos", "quant-skills", "pydantic", "numpy", "pandas", "scipy", "cvxpy",
    "pyarrow", "ray", "prefect", "dbos",
)


def validate_run_id(run_id: str) -> str:
    # fullmatch: `$` in the pattern would also accept a trailing newline
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidRunIdError(
            f"invalid run id {run_id!r}: it must match {RUN_ID_PATTERN} (letters, digits, '_', "
            f"'.', '-'; starting with a letter or digit; at most 128 characters)",
            param="run_id",
            value=run_id,
            rule="pattern",
        )
    return run_id


def sleeve_run_id(parent_run_id: str, sleeve_name: str) -> str:
    """The run id of a meta run's sleeve: `<parent>.<sleeve>`, valid or an error naming it."""
    return validate_run_id(derived_sleeve_run_id(parent_run_id, sleeve_name))


def new_run_id(target: str) -> str:
    """A fresh, sortable, readable run id: `<target>-<UTC time>-<random>`."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{stamp}-{secrets.token_hex(3)}"
    # A long pipeline id must not make the generated id break the 128-character rule.
    return f"{target[: MAX_RUN_ID_LENGTH - len(suffix)]}{suffix}"


def installed_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED_DISTRIBUTIONS:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    run_id: str
    step: int
    stage_id: str
    attempt: int = 1
    status: Literal["succeeded", "failed"]
    started_at: str
    duration_s: float
    input_hash: str
    output_hash: str | None = None
    cache_key: str | None = None
    cache_hit: bool = False
    error: str | None = None
    executor: str = "local"
    #: What a cache lookup found damaged before this attempt ran the stage again (and repaired).
    repaired: list[str] = Field(default_factory=list)
    #: Where the attempt ran when not in the driver's process: the node and worker (Ray node id
    #: and worker id, or host and pid), for tracing a step back to a machine.
    node: str | None = None
    worker: str | None = None
    #: The OpenTelemetry trace the attempt's span belongs to (32 hex digits) when tracing was on:
    #: the run's trace, whichever executor ran the attempt (None when tracing was off).
    trace_id: str | None = None


def latest_attempts(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """The last attempt of each step, in step order (retries and earlier invocations of the same
    run leave earlier lines)."""
    latest: dict[int, LedgerEntry] = {}
    for entry in entries:
        latest[entry.step] = entry
    return [latest[k] for k in sorted(latest)]


RunStatus = Literal["running", "succeeded", "failed", "interrupted"]


class RunManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    run_id: str
    kind: Literal["pipeline", "stage"]
    target: str
    parent_run_id: str | None = None
    profile: str | None = None
    executor: str
    #: Where an executor ran the work, in its own terms (e.g. Ray: the cluster address and the Ray
    #: version); None for the local executor.
    engine: dict[str, JsonValue] | None = None
    params: dict[str, dict[str, JsonValue]] = Field(default_factory=dict)
    steps: list[dict[str, JsonValue]] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict)
    #: As written, never "interrupted": that is read, a "running" run whose owner is gone
    #: (`RunRecord.read_manifest`).
    status: RunStatus = "running"
    created_at: str
    started_at: str
    finished_at: str | None = None
    error: str | None = None
    invocations: int = 1
    #: The process running it (this invocation): `host` and `pid`, checked through the run's lock.
    owner: dict[str, JsonValue] | None = None
    #: What the engine that ran the run calls it, for finding it there (e.g. DBOS's workflow id,
    #: application version and system database); empty for the local executor.
    engine: dict[str, JsonValue] = Field(default_factory=dict)

    def same_request(self, other: RunManifest) -> bool:
        keys = ("kind", "target", "profile", "params", "steps", "parent_run_id")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class RecordProblem:
    """A damaged file or line of a run record. `torn`: the last line of a JSONL file was cut
    short (a crash or a full disk in the middle of a write): expected after a crash, tolerated
    by readers, and dropped when the run is next opened for writing."""

    path: str
    reason: str
    line: int | None = None
    torn: bool = False

    def error(self) -> StoreDamagedError:
        return StoreDamagedError(self.path, self.reason, line=self.line)

    def describe(self) -> str:
        return f"{self.path}" + (f", line {self.line}" if self.line is not None else "") + f": {self.reason}"

    def to_json(self) -> dict[str, JsonValue]:
        return {"path": self.path, "line": self.line, "reason": self.reason, "torn": self.torn}


T = TypeVar("T")
TORN_REASON = "its last line was cut short (a write interrupted by a crash or a full disk)"


def scan_lines(path: Path, parse: Callable[[bytes], T]) -> tuple[list[T], list[RecordProblem]]:
    """Every line of a JSONL record file parsed, and what could not be (never raises for
    content; an unreadable file is one problem)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [RecordProblem(str(path), f"cannot be read: {exc.strerror or exc}")]
    lines = raw.split(b"\n")
    items: list[T] = []
    problems: list[RecordProblem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = number == len(lines)  # no newline after it: its write did not finish
        try:
            items.append(parse(line))
        except ValueError as exc:
            reason = TORN_REASON if torn else _line_problem(exc)
            problems.append(RecordProblem(str(path), reason, number, torn))
    return items, problems


def _line_problem(exc: ValueError, what: str = "line") -> str:
    if isinstance(exc, SealBroken):
        return exc.reason
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"not a valid {what} ({where + ': ' if where else ''}{first['msg']})"
    return f"not a valid {what} ({exc})"


def parse_ledger_line(line: bytes) -> LedgerEntry:
    """One ledger line (sealed, or written before seals existed); ValueError if damaged."""
    return LedgerEntry.model_validate_json(unseal(line, required=False))


def parse_context_line(line: bytes) -> tuple[str, dict]:
    """One `contexts.jsonl` line as (name, context data); ValueError if damaged."""
    value = load_sealed(line, required=False)
    if set(value) != {"name", "context"} or not isinstance(value["name"], str) or not isinstance(value["context"], dict):
        raise ValueError("not a context line (expected the members name and context)")
    return value["name"], value["context"]


def raise_for_damage(problems: Iterable[RecordProblem]) -> None:
    """Raise for the first problem that is not a torn last line (those are tolerated)."""
    for problem in problems:
        if not problem.torn:
            raise problem.error()


class RunRecord:
    """Reads and writes one run's folder. Every write is atomic; ledger and context lines are
    appended whole, each sealed with its checksum; the manifest is sealed too.

    Writing is for the holder of the run's lock (`lock()`), so one process at a time writes a
    run's files; readers need no lock."""

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        self.run_id = validate_run_id(run_id)
        self.path = Path(runs_dir) / run_id

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def ledger_path(self) -> Path:
        return self.path / "ledger.jsonl"

    @property
    def contexts_path(self) -> Path:
        return self.path / "contexts.jsonl"

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_FILE_NAME

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    # -- manifest ---------------------------------------------------------------------------------

    def read_manifest(self) -> RunManifest:
        """The manifest as written, except that a "running" run whose owner is gone (its lock is
        free: the process died) reads as "interrupted"."""
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            raise RunNotFoundError(self.run_id, _run_ids(self.path.parent)) from None
        except OSError as exc:
            raise StoreDamagedError(str(self.manifest_path), f"cannot be read: {exc.strerror or exc}") from None
        manifest = parse_manifest(raw, self.manifest_path)
        if manifest.status == "running" and self._owner_gone(manifest):
            manifest = manifest.model_copy(update={"status": "interrupted"})
        return manifest

    def _owner_gone(self, manifest: RunManifest) -> bool:
        # A lock taken on another machine may not be visible here (a store shared over the
        # network): such a run is taken at its word.
        host = (manifest.owner or {}).get("host")
        return host in (None, this_host()) and not run_lock_held(self.lock_path)

    def write_manifest(self, manifest: RunManifest, *, durable: bool = False) -> None:
        write_atomic(self.manifest_path, seal(manifest.model_dump_json(indent=2).encode(), pretty=True), durable=durable)

    @contextlib.contextmanager
    def lock(self) -> Iterator[dict[str, JsonValue]]:
        """Hold the run's lock while writing it: a second process starting the same run id gets
        a `RunLockedError` (it is released when this process ends, however it ends)."""
        with hold_run_lock(self.lock_path, self.run_id) as owner:
            yield owner

    def begin(self, manifest: RunManifest, input_context: RunContext) -> RunManifest:
        """Open the record (under the run's lock); a run id already used for a different request
        is an error. A torn last line left by a crash is dropped first."""
        if self.exists():
            previous = self.read_manifest()
            if not previous.same_request(manifest):
                raise RunConflictError(
                    f"run id {self.run_id!r} already holds a {previous.kind} run of "
                    f"{previous.target!r} with other settings; choose a new run id (or resume it "
                    f"as it was with `quant runs resume {self.run_id}`)",
                    param="run_id",
                    value=self.run_id,
                    rule="unique",
                )
            manifest = manifest.model_copy(
                update={"created_at": previous.created_at, "invocations": previous.invocations + 1}
            )
            for path in (self.ledger_path, self.contexts_path):
                drop_torn_tail(path)
        else:
            drop_torn_tail(self.contexts_path)  # a start that died before its manifest
            if not self.contexts_path.is_file() or INPUT_CONTEXT_NAME not in self.context_names():
                self.write_context(INPUT_CONTEXT_NAME, input_context)
        self.write_manifest(manifest)
        return manifest

    def finish(self, manifest: RunManifest, status: str, error: str | None = None) -> RunManifest:
        done = manifest.model_copy(
            update={"status": status, "error": error, "finished_at": utc_now_iso()}
        )
        # The lines first, then the manifest that says they are complete: after a power cut a
        # finished manifest never points at a ledger that lost its last lines. (The manifest
        # written at the start is not flushed: a run cut by a power failure is interrupted
        # either way, and a flush per start would double the cost of a cached run.)
        for path in (self.ledger_path, self.contexts_path):
            fsync_file(path)
        self.write_manifest(done, durable=True)
        if done.invocations == 1:
            fsync_folder(self.path.parent)  # the run's own folder is new in runs/
        return done

    # -- ledger and contexts ----------------------------------------------------------------------

    def append_ledger(self, entry: LedgerEntry) -> None:
        append_line(self.ledger_path, seal(entry.model_dump_json().encode()))

    def scan_ledger(self) -> tuple[list[LedgerEntry], list[RecordProblem]]:
        """Every readable ledger line, and the damaged ones."""
        return scan_lines(self.ledger_path, parse_ledger_line)

    def read_ledger(self) -> list[LedgerEntry]:
        """Every ledger line; a damaged line is a `StoreDamagedError` naming the file and line
        (a torn last line is left out)."""
        entries, problems = self.scan_ledger()
        raise_for_damage(problems)
        return entries

    @staticmethod
    def context_name(step: int, stage_id: str) -> str:
        return f"{step:03d}-{stage_id}"

    def write_context(self, name: str, context: RunContext) -> None:
        """Append the context after a step (or the input, `000-input`) to `contexts.jsonl`."""
        body = f'{{"name":{json.dumps(name)},"context":{context.model_dump_json()}}}'.encode()
        append_line(self.contexts_path, seal(body))

    def context_names(self) -> list[str]:
        return [name for name, _ in self.context_entries()]

    def scan_contexts(self) -> tuple[list[tuple[str, dict]], list[RecordProblem]]:
        return scan_lines(self.contexts_path, parse_context_line)

    def context_entries(self) -> list[tuple[str, dict]]:
        """Every recorded context as (name, JSON data), in the order they were written; a damaged
        line is a `StoreDamagedError` (a torn last line is left out)."""
        entries, problems = self.scan_contexts()
        raise_for_damage(problems)
        return entries

    def read_context(self, name: str) -> RunContext:
        """The latest context recorded under `name` (a resumed run records a step again)."""
        for recorded, data in reversed(self.context_entries()):
            if recorded == name:
                return self._context(data)
        raise RunNotFoundError(f"{self.run_id}/{name}", [f"{self.run_id}/{n}" for n in self.context_names()])

    def input_context(self) -> RunContext:
        return self.read_context(INPUT_CONTEXT_NAME)

    def last_context(self) -> RunContext:
        """The context after the last step the run reached (its input if it reached none)."""
        entries = self.context_entries()
        if not entries:
            raise RunNotFoundError(self.run_id, _run_ids(self.path.parent))
        return self._context(entries[-1][1])

    def _context(self, data: dict) -> RunContext:
        try:
            return context_from_data(data)
        except (ValueError, ValidationError) as exc:
            raise StoreDamagedError(str(self.contexts_path), f"a recorded context is not valid ({exc})") from None


def parse_manifest(raw: bytes, path: Path) -> RunManifest:
    try:
        return RunManifest.model_validate_json(unseal(raw, required=False))
    except ValueError as exc:
        raise StoreDamagedError(str(path), _line_problem(exc, "manifest")) from None


def _run_ids(runs_dir: Path) -> list[str]:
    if not runs_dir.is_dir():
        return []
    return [p.name for p in runs_dir.iterdir() if (p / "manifest.json").is_file()]


def child_records(runs_dir: Path, parent_run_id: str) -> list[RunRecord]:
    """The runs named `<parent_run_id>.<name>` (how a fan-out names its sleeve runs), by name,
    whether or not their manifest exists yet. A run id may itself hold dots, so a caller that
    needs certainty checks `manifest.parent_run_id`."""
    if not runs_dir.is_dir():
        return []
    prefix = f"{parent_run_id}."
    return [RunRecord(runs_dir, p.name) for p in sorted(runs_dir.iterdir()) if p.name.startswith(prefix)]


@dataclass(frozen=True)
class RunScan:
    """Every run whose manifest reads, newest first, and the runs whose manifest does not."""

    manifests: list[RunManifest]
    damaged: list[RecordProblem]


def scan_runs(runs_dir: Path) -> RunScan:
    manifests, damaged = [], []
    for run_id in _run_ids(runs_dir):
        try:
            manifests.append(RunRecord(runs_dir, run_id).read_manifest())
        except StoreDamagedError as exc:
            damaged.append(RecordProblem(exc.path or str(runs_dir / run_id), exc.reason))
        except InvalidRunIdError:  # a folder quant did not make
            continue
    manifests.sort(key=lambda m: (m.started_at, m.run_id), reverse=True)
    return RunScan(manifests, damaged)


def list_runs(runs_dir: Path) -> list[RunManifest]:
    """Every run's manifest, newest first (a damaged one is a `StoreDamagedError`; `scan_runs`
    lists the others and names it)."""
    scan = scan_runs(runs_dir)
    raise_for_damage(scan.damaged)
    return scan.manifests


class StepTimer:
    """Wall-clock start (for the record) and a monotonic duration (for the figure)."""

    def __init__(self) -> None:
        self.started_at = utc_now_iso()
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

