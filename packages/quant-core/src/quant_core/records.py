"""The run record: the same folder for every run on every executor.

    runs/<run_id>/manifest.json        what ran, with what, where, and how it ended
    runs/<run_id>/ledger.jsonl         one line per stage attempt
    runs/<run_id>/contexts.jsonl       the context after each step, one line each:
                                       {"name": "NNN-<step id>", "context": {...}} (000-input: the start)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from quant_core.artifacts import write_atomic
from quant_core.context import RUN_ID_PATTERN, RunContext, context_from_data
from quant_core.errors import InvalidRunIdError, RunConflictError, RunNotFoundError

_RUN_ID_RE = re.compile(RUN_ID_PATTERN)
INPUT_CONTEXT_NAME = "000-input"
MAX_RUN_ID_LENGTH = 128
VERSIONED_DISTRIBUTIONS = (
    "quant-core", "quant-stages", "quant-cli", "quant-compute-ray", "quant-flows-prefect",
    "quant-flows-dbos", "quant-skills", "pydantic", "numpy", "pandas", "scipy", "cvxpy",
    "pyarrow", "ray", "prefect", "dbos",
)


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidRunIdError(
            f"invalid run id {run_id!r}: it must match {RUN_ID_PATTERN} (letters, digits, '_', "
            f"'.', '-'; starting with a letter or digit; at most 128 characters)",
            param="run_id",
            value=run_id,
            rule="pattern",
        )
    return run_id


def new_run_id(target: str) -> str:
    """A fresh, sortable, readable run id: `<target>-<UTC time>-<random>`."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{stamp}-{secrets.token_hex(3)}"
    # A long pipeline id must not make the generated id break the 128-character rule.
    return f"{target[: MAX_RUN_ID_LENGTH - len(suffix)]}{suffix}"


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def installed_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED_DISTRIBUTIONS:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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
    #: Where the attempt ran when not in the driver's process: the node and worker (Ray node id
    #: and worker id, or host and pid), for tracing a step back to a machine.
    node: str | None = None
    worker: str | None = None


def latest_attempts(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """The last attempt of each step, in step order (retries and earlier invocations of the same
    run leave earlier lines)."""
    latest: dict[int, LedgerEntry] = {}
    for entry in entries:
        latest[entry.step] = entry
    return [latest[k] for k in sorted(latest)]


class RunManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    kind: Literal["pipeline", "stage"]
    target: str
    parent_run_id: str | None = None
    profile: str | None = None
    executor: str
    params: dict[str, dict[str, JsonValue]] = Field(default_factory=dict)
    steps: list[dict[str, JsonValue]] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict)
    status: Literal["running", "succeeded", "failed"] = "running"
    created_at: str
    started_at: str
    finished_at: str | None = None
    error: str | None = None
    invocations: int = 1
    #: The engine's own record of this invocation, for going from a quant run to the engine's
    #: view of it (e.g. the Prefect flow run id and API URL). None for the local executor.
    engine: dict[str, JsonValue] | None = None

    def same_request(self, other: RunManifest) -> bool:
        keys = ("kind", "target", "profile", "params", "steps", "parent_run_id")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


class RunRecord:
    """Reads and writes one run's folder. Every write is atomic; ledger lines are appended whole."""

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

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> RunManifest:
        try:
            return RunManifest.model_validate_json(self.manifest_path.read_bytes())
        except FileNotFoundError:
            raise RunNotFoundError(self.run_id, _run_ids(self.path.parent)) from None

    def write_manifest(self, manifest: RunManifest) -> None:
        write_atomic(self.manifest_path, manifest.model_dump_json(indent=2).encode())

    def begin(self, manifest: RunManifest, input_context: RunContext) -> RunManifest:
        """Open the record; a run id already used for a different request is an error."""
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
        else:
            self.write_context(INPUT_CONTEXT_NAME, input_context)
        self.write_manifest(manifest)
        return manifest

    def finish(self, manifest: RunManifest, status: str, error: str | None = None) -> RunManifest:
        done = manifest.model_copy(
            update={"status": status, "error": error, "finished_at": utc_now_iso()}
        )
        self.write_manifest(done)
        return done

    def append_ledger(self, entry: LedgerEntry) -> None:
        self._append(self.ledger_path, (entry.model_dump_json() + "\n").encode())

    def _append(self, path: Path, line: bytes) -> None:
        # One write on an O_APPEND descriptor: lines from parallel workers never interleave, and
        # a reader never sees a half-replaced file (no temp file and rename per step).
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:  # the run's folder does not exist yet
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read_ledger(self) -> list[LedgerEntry]:
        if not self.ledger_path.exists():
            return []
        with self.ledger_path.open("rb") as handle:
            return [LedgerEntry.model_validate_json(line) for line in handle if line.strip()]

    @staticmethod
    def context_name(step: int, stage_id: str) -> str:
        return f"{step:03d}-{stage_id}"

    def write_context(self, name: str, context: RunContext) -> None:
        """Append the context after a step (or the input, `000-input`) to `contexts.jsonl`."""
        self._append(self.contexts_path, f'{{"name":{json.dumps(name)},"context":{context.model_dump_json()}}}\n'.encode())

    def context_names(self) -> list[str]:
        return [name for name, _ in self.context_entries()]

    def context_entries(self) -> list[tuple[str, dict]]:
        """Every recorded context as (name, JSON data), in the order they were written."""
        try:
            raw = self.contexts_path.read_bytes()
        except FileNotFoundError:
            return []
        entries = []
        for line in raw.splitlines():
            if line.strip():
                entry = json.loads(line)
                entries.append((entry["name"], entry["context"]))
        return entries

    def read_context(self, name: str) -> RunContext:
        """The latest context recorded under `name` (a resumed run records a step again)."""
        for recorded, data in reversed(self.context_entries()):
            if recorded == name:
                return context_from_data(data)
        raise RunNotFoundError(f"{self.run_id}/{name}", [f"{self.run_id}/{n}" for n in self.context_names()])

    def input_context(self) -> RunContext:
        return self.read_context(INPUT_CONTEXT_NAME)

    def last_context(self) -> RunContext:
        """The context after the last step the run reached (its input if it reached none)."""
        entries = self.context_entries()
        if not entries:
            raise RunNotFoundError(self.run_id, _run_ids(self.path.parent))
        return context_from_data(entries[-1][1])


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


def list_runs(runs_dir: Path) -> list[RunManifest]:
    """Every run's manifest, newest first."""
    manifests = []
    for run_id in _run_ids(runs_dir):
        manifests.append(RunRecord(runs_dir, run_id).read_manifest())
    return sorted(manifests, key=lambda m: (m.started_at, m.run_id), reverse=True)


class StepTimer:
    """Wall-clock start (for the record) and a monotonic duration (for the figure)."""

    def __init__(self) -> None:
        self.started_at = utc_now_iso()
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

