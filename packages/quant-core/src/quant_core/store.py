"""Checking and cleaning `$QUANT_HOME`: `verify_store` (`quant store verify`) and
`collect_garbage` (`quant store gc`).

verify reads every artifact (its bytes against its name), every cache entry (its seal and the
artifacts it names) and every run record (manifest, ledger and context lines, the artifacts its
contexts name, its exported report). `repair=True` removes damaged artifacts and cache entries:
the next run that needs them computes them again. A run record is never rewritten; its damage is
reported with the file and line.

gc removes runs by age or count (`keep_runs`, `older_than`; sleeve runs go with their meta run,
a running run is never removed), the cache entries only removed runs used, and every artifact no
kept run or cache entry references (directly, or through a JSON artifact that names it). Files
younger than `GRACE` are never removed: a run starting meanwhile may not have recorded them yet.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import JsonValue

from quant_core.artifacts import file_sha256
from quant_core.cache import iter_artifact_refs, read_entry
from quant_core.errors import InvalidRunIdError, ParamValidationError, StoreDamagedError, StoreWriteError
from quant_core.home import QuantHome
from quant_core.records import RecordProblem, RunManifest, RunRecord

GRACE = timedelta(hours=1)
REPORT_FILE_NAME = "report.html"
_SHA_LENGTH = 64
_HEX = frozenset("0123456789abcdef")

FindingKind = Literal["artifact", "cache", "run"]


@dataclass(frozen=True)
class Finding:
    """One damaged file (or line). `torn`: a last line cut short by a crash, which the run's next
    writer drops (reported, not counted as damage). `removed`: `repair` deleted the file."""

    kind: FindingKind
    path: str
    reason: str
    line: int | None = None
    torn: bool = False
    removed: bool = False

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "kind": self.kind, "path": self.path, "line": self.line, "reason": self.reason,
            "torn": self.torn, "removed": self.removed,
        }


@dataclass
class StoreReport:
    root: str
    checked: dict[str, int] = field(default_factory=lambda: {"artifacts": 0, "cache_entries": 0, "runs": 0})
    findings: list[Finding] = field(default_factory=list)

    @property
    def damaged(self) -> list[Finding]:
        return [f for f in self.findings if not f.torn]

    @property
    def clean(self) -> bool:
        return not self.damaged

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "clean": self.clean,
            "checked": dict(self.checked),
            "damaged": len(self.damaged),
            "repaired": sum(1 for f in self.findings if f.removed),
            "findings": [f.to_json() for f in self.findings],
        }


# -- verify ------------------------------------------------------------------------------------


def verify_store(home: QuantHome, *, repair: bool = False) -> StoreReport:
    report = StoreReport(root=str(home.root))
    bad_artifacts = _verify_artifacts(home, report, repair)
    _verify_cache(home, report, repair, bad_artifacts)
    _verify_runs(home, report, bad_artifacts)
    return report


def _is_sha(name: str) -> bool:
    return len(name) == _SHA_LENGTH and set(name) <= _HEX


def _store_files(root: Path) -> Iterator[Path]:
    """Files two levels down (`<xx>/<name>`), without the temp files of writes in progress."""
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and not _is_temp(path):
                    yield path


def _is_temp(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _verify_artifacts(home: QuantHome, report: StoreReport, repair: bool) -> dict[str, str]:
    """Check every artifact; gives the damaged or misplaced ones: sha -> reason."""
    bad: dict[str, str] = {}
    for path in _store_files(home.artifacts_dir):
        report.checked["artifacts"] += 1
        name = path.name
        if not _is_sha(name) or path.parent.name != name[:2]:
            reason = "not an artifact (its name is not a sha256 in its two-letter folder)"
        else:
            try:
                actual = file_sha256(path)
            except OSError as exc:
                actual, reason = None, f"cannot be read: {exc.strerror or exc}"
            if actual == name:
                continue
            if actual is not None:
                reason = f"its content hashes to {actual}, not to its name"
            bad[name] = reason
        report.findings.append(Finding("artifact", str(path), reason, removed=_remove(path, repair)))
    return bad


def _verify_cache(home: QuantHome, report: StoreReport, repair: bool, bad_artifacts: dict[str, str]) -> None:
    store = home.artifact_store()
    for path in _store_files(home.cache_dir):
        report.checked["cache_entries"] += 1
        try:
            entry = read_entry(path.read_bytes())
        except (OSError, ValueError) as exc:
            reason = f"cannot be read: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
        else:
            reason = _missing_artifacts(entry.delta, store, bad_artifacts)
            if reason is None:
                continue
        report.findings.append(Finding("cache", str(path), reason, removed=_remove(path, repair)))


def _missing_artifacts(data: Any, store: Any, bad_artifacts: dict[str, str]) -> str | None:
    """What is wrong with the artifacts `data` names (None: all there and whole)."""
    for sha, _size in iter_artifact_refs(data):
        if sha in bad_artifacts:
            return f"it names artifact {sha}, which is damaged"
        if not store.path_for(sha).is_file():
            return f"it names artifact {sha}, which is missing"
    return None


def _verify_runs(home: QuantHome, report: StoreReport, bad_artifacts: dict[str, str]) -> None:
    store = home.artifact_store()
    for record in _run_records(home.runs_dir):
        if not record.exists():
            if record.ledger_path.exists() or record.contexts_path.exists():
                report.findings.append(Finding("run", str(record.manifest_path), "missing (the run has lines but no manifest)"))
            continue
        report.checked["runs"] += 1
        try:
            record.read_manifest()
        except StoreDamagedError as exc:
            report.findings.append(Finding("run", str(record.manifest_path), exc.reason))
        _, ledger_problems = record.scan_ledger()
        contexts, context_problems = record.scan_contexts()
        report.findings.extend(_run_finding(p) for p in [*ledger_problems, *context_problems])
        for name, data in contexts:
            reason = _missing_artifacts(data, store, bad_artifacts)
            if reason is not None:
                report.findings.append(Finding("run", str(record.contexts_path), f"context {name}: {reason}"))
        reason = _report_problem(record, contexts, store)
        if reason is not None:
            report.findings.append(Finding("run", str(record.path / REPORT_FILE_NAME), reason))


def _run_finding(problem: RecordProblem) -> Finding:
    return Finding("run", problem.path, problem.reason, line=problem.line, torn=problem.torn)


def _report_problem(record: RunRecord, contexts: list[tuple[str, dict]], store: Any) -> str | None:
    """Whether the exported report is still the report artifact of the run's last context."""
    path = record.path / REPORT_FILE_NAME
    if not path.is_file() or not contexts:
        return None
    ref = (contexts[-1][1].get("report") or {}).get("html")
    if not isinstance(ref, dict) or "sha256" not in ref:
        return None
    actual = file_sha256(path)
    if actual != ref["sha256"]:
        return f"its content hashes to {actual}, not to the run's report artifact {ref['sha256']}"
    return None


def _run_records(runs_dir: Path) -> Iterator[RunRecord]:
    if not runs_dir.is_dir():
        return
    for folder in sorted(runs_dir.iterdir()):
        if folder.is_dir():
            try:
                yield RunRecord(runs_dir, folder.name)
            except InvalidRunIdError:  # not a folder quant made
                continue


def _remove(path: Path, repair: bool) -> bool:
    if repair:
        path.unlink(missing_ok=True)
    return repair


# -- gc ----------------------------------------------------------------------------------------


@dataclass
class Removal:
    kind: Literal["run", "cache", "artifact", "temp"]
    path: str
    size: int

    def to_json(self) -> dict[str, JsonValue]:
        return {"kind": self.kind, "path": self.path, "size": self.size}


@dataclass
class GcReport:
    root: str
    applied: bool
    removals: list[Removal] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    kept_bytes: int = 0
    #: Run folders left alone because their manifest cannot be read (their age is unknown).
    skipped: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for removal in self.removals:
            entry = totals.setdefault(removal.kind, {"count": 0, "bytes": 0})
            entry["count"] += 1
            entry["bytes"] += removal.size
        return totals

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "applied": self.applied,
            "removed" if self.applied else "would_remove": self.totals(),
            "bytes": sum(r.size for r in self.removals),
            "kept": dict(self.kept),
            "kept_bytes": self.kept_bytes,
            "skipped": list(self.skipped),
            "removals": [r.to_json() for r in self.removals],
        }


def parse_age(text: str) -> timedelta:
    """`90m`, `12h`, `30d`, `2w` as a duration (a `ParamValidationError` otherwise)."""
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise ParamValidationError(
            f"--older-than {text!r}: give a whole number and a unit, m, h, d or w (e.g. 30d)",
            param="older_than", value=text, rule="duration",
        )
    return timedelta(**{units[unit]: int(number)})


def collect_garbage(
    home: QuantHome,
    *,
    keep_runs: int | None = None,
    older_than: timedelta | None = None,
    apply: bool = False,
    now: datetime | None = None,
) -> GcReport:
    """What gc removes (`apply=False`: a dry run that only reports it)."""
    if keep_runs is not None and keep_runs < 0:
        raise ParamValidationError(
            f"--keep-runs {keep_runs}: must be 0 or more", param="keep_runs", value=keep_runs, rule="minimum"
        )
    now = now or datetime.now(timezone.utc)
    report = GcReport(root=str(home.root), applied=apply)
    young = now - GRACE

    runs, damaged = _read_runs(home.runs_dir)
    report.skipped = damaged
    removed_runs = _runs_to_remove(runs, keep_runs, older_than, now)
    kept_records = [record for run_id, (record, _) in runs.items() if run_id not in removed_runs]

    kept_keys = {key for record in kept_records for key in _ledger_keys(record)}
    dropped_keys = {key for run_id in removed_runs for key in _ledger_keys(runs[run_id][0])} - kept_keys
    roots: set[str] = set()
    for record in kept_records:
        for _, data in record.scan_contexts()[0]:
            roots.update(sha for sha, _ in iter_artifact_refs(data))
    kept_entries = 0
    for path in _store_files(home.cache_dir):
        if path.stem in dropped_keys and not _younger(path, young):
            report.removals.append(Removal("cache", str(path), _size(path)))
            continue
        kept_entries += 1
        report.kept_bytes += _size(path)
        try:
            roots.update(sha for sha, _ in iter_artifact_refs(read_entry(path.read_bytes()).delta))
        except (OSError, ValueError):
            continue  # a damaged entry names nothing reliably (`quant store verify` reports it)

    live = _closure(home, roots)
    kept_artifacts = 0
    for path in _store_files(home.artifacts_dir):
        if path.name in live or _younger(path, young):
            kept_artifacts += 1
            report.kept_bytes += _size(path)
        else:
            report.removals.append(Removal("artifact", str(path), _size(path)))
    for run_id in sorted(removed_runs):
        record = runs[run_id][0]
        report.removals.append(Removal("run", str(record.path), _tree_size(record.path)))
    for root in (home.artifacts_dir, home.cache_dir, home.runs_dir):
        report.removals.extend(Removal("temp", str(p), _size(p)) for p in _temp_files(root) if not _younger(p, young))
    report.kept = {"runs": len(kept_records), "cache_entries": kept_entries, "artifacts": kept_artifacts}
    if apply:
        _apply(report.removals)
    return report


def _read_runs(runs_dir: Path) -> tuple[dict[str, tuple[RunRecord, RunManifest]], list[str]]:
    runs: dict[str, tuple[RunRecord, RunManifest]] = {}
    damaged: list[str] = []
    for record in _run_records(runs_dir):
        if not record.exists():
            continue
        try:
            runs[record.run_id] = (record, record.read_manifest())
        except StoreDamagedError:
            damaged.append(str(record.path))
    return runs, damaged


def _runs_to_remove(
    runs: dict[str, tuple[RunRecord, RunManifest]], keep_runs: int | None, older_than: timedelta | None, now: datetime
) -> set[str]:
    """The top-level runs every given rule removes, with their sleeve runs; a family with a
    running member is kept whole."""
    if keep_runs is None and older_than is None:
        return set()
    manifests = [m for _, m in runs.values()]
    sleeves: dict[str, list[RunManifest]] = {}
    for manifest in manifests:
        if manifest.parent_run_id in runs:
            sleeves.setdefault(manifest.parent_run_id, []).append(manifest)
    tops = sorted(
        (m for m in manifests if m.parent_run_id not in runs), key=lambda m: (m.started_at, m.run_id), reverse=True
    )
    removed: set[str] = set()
    for rank, top in enumerate(tops):
        ended = datetime.fromisoformat(top.finished_at or top.started_at)
        outside_count = keep_runs is None or rank >= keep_runs
        too_old = older_than is None or now - ended > older_than
        family = [top, *sleeves.get(top.run_id, [])]
        if outside_count and too_old and all(m.status != "running" for m in family):
            removed.update(m.run_id for m in family)
    return removed


def _ledger_keys(record: RunRecord) -> set[str]:
    return {e.cache_key for e in record.scan_ledger()[0] if e.cache_key}


def _closure(home: QuantHome, roots: Iterable[str]) -> set[str]:
    """`roots` and every artifact a JSON artifact among them names, transitively."""
    store = home.artifact_store()
    live: set[str] = set()
    todo = list(roots)
    while todo:
        sha = todo.pop()
        if sha in live:
            continue
        live.add(sha)
        path = store.path_for(sha)
        try:
            with path.open("rb") as handle:
                if handle.read(1) not in (b"{", b"["):
                    continue
            value = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        todo.extend(s for s, _ in iter_artifact_refs(value) if s not in live)
    return live


def _temp_files(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from (p for p in root.rglob(".*.tmp") if p.is_file())


def _younger(path: Path, limit: datetime) -> bool:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) > limit
    except FileNotFoundError:
        return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _tree_size(folder: Path) -> int:
    return sum(_size(p) for p in folder.rglob("*") if p.is_file())


def _apply(removals: list[Removal]) -> None:
    for removal in removals:
        path = Path(removal.path)
        try:
            if removal.kind == "run":
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreWriteError(str(exc.filename or path), exc) from exc
    for root in {Path(r.path).parent for r in removals if r.kind in ("cache", "artifact")}:
        try:
            os.rmdir(root)  # only when empty
        except OSError:
            continue
