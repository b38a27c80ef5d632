"""Issue 12: nothing silently wrong. Damaged artifacts and cache entries are misses that repair,
records survive crashes and full disks, a run id runs once at a time, and a run whose process died
reads as interrupted and resumes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import quant_core.artifacts as artifacts_module
import quant_core.journal as journal_module
from quant_core import (
    InvalidRunIdError,
    ParamValidationError,
    PipelineSpec,
    ProfileNotFoundError,
    QuantError,
    QuantSDK,
    StageFailedError,
)
from quant_core.errors import RunLockedError, StoreDamagedError, StoreWriteError
from quant_core.records import RunRecord, scan_runs
from quant_core.testing import WaitForFile, toy_profiles, toy_registry

START_TIMEOUT_S = 120  # a loaded 2-core machine may take long to start Python processes


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    index = len(data) // 2 if offset is None else offset
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def _entry_path(sdk: QuantSDK, run_id: str, stage_id: str) -> Path:
    (line,) = [e for e in sdk.record(run_id).read_ledger() if e.stage_id == stage_id]
    return sdk.runtime().cache.path_for(line.cache_key)


def _hits(result: Any) -> list[bool]:
    return [e.cache_hit for e in result.ledger]


# -- 1. artifacts: every read checked, a damaged one recomputed and replaced ----------------------


def test_a_flipped_artifact_byte_makes_its_stage_run_again_and_repairs_it(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.portfolio", run_id="flip-1")
    scaled = first.context.artifacts["scaled"]
    store = sdk.home.artifact_store()
    path = store.path_for(scaled.sha256)
    _flip_byte(path)  # same size: a size check would not see it

    second = sdk.run_pipeline("toy.portfolio", run_id="flip-2")
    assert _hits(second) == [True, False, True]
    (found,) = second.ledger[1].repaired
    assert found.startswith(f"artifact {path} is damaged: its content hashes to ")
    (event,) = [e for e in second.context.audit_trail if e.code == "cache-repaired"]
    assert (event.stage_id, event.level, event.data["damaged"]) == ("toy.scale", "warning", [found])
    assert store.get(scaled) == store.get(second.context.artifacts["scaled"])  # repaired in place
    assert second.context.cache_view() == first.context.cache_view()
    assert _hits(sdk.run_pipeline("toy.portfolio", run_id="flip-3")) == [True, True, True]


def test_put_replaces_a_stored_file_whose_content_does_not_match_its_name(tmp_path: Path) -> None:
    store = artifacts_module.ArtifactStore(tmp_path)
    ref = store.put(b"hello world", "text/plain")
    _flip_byte(store.path_for(ref.sha256))
    assert store.verify(ref.sha256, ref.size) is not None
    assert store.put(b"hello world", "text/plain") == ref
    assert store.verify(ref.sha256, ref.size) is None and store.get(ref) == b"hello world"


def test_a_forced_run_over_a_flipped_artifact_repairs_it(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.portfolio", run_id="force-1")
    store = sdk.home.artifact_store()
    numbers = first.context.artifacts["numbers"]
    _flip_byte(store.path_for(numbers.sha256))
    forced = sdk.run_pipeline("toy.portfolio", run_id="force-2", force=True)
    assert forced.status == "succeeded" and store.get(numbers) == store.get(forced.context.artifacts["numbers"])


def test_exporting_an_artifact_twice_stores_its_bytes_once(tmp_path: Path) -> None:
    store = artifacts_module.ArtifactStore(tmp_path / "store")
    ref = store.put(b"<html>report</html>", "text/html")
    first, second = store.export(ref, tmp_path / "a" / "report.html"), store.export(ref, tmp_path / "b" / "report.html")
    assert first.read_bytes() == second.read_bytes() == b"<html>report</html>"
    assert first.stat().st_ino == second.stat().st_ino == store.path_for(ref.sha256).stat().st_ino


# -- 2. cache entries: sealed, and their recorded output hash checked ----------------------------


def test_an_edited_cache_entry_is_never_served(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="edit-1")
    entry = _entry_path(sdk, "edit-1", "toy.sum")
    entry.write_bytes(entry.read_bytes().replace(b'"total":20.0', b'"total":99.0'))

    second = sdk.run_pipeline("toy.portfolio", run_id="edit-2")
    assert second.context.backtest == {"total": 20.0}
    assert _hits(second) == [True, True, False]
    assert second.ledger[2].repaired == [
        f"cache entry {entry} is damaged: its content does not match its checksum"
    ]


def test_a_damaged_cache_entry_of_a_meta_stage_is_recomputed_like_a_sleeve_stage(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.meta", profile="trio", run_id="meta-dmg-1")
    _flip_byte(_entry_path(sdk, "meta-dmg-1", "toy.meta_total"))
    _flip_byte(_entry_path(sdk, "meta-dmg-1.alpha", "toy.sum"))
    second = sdk.run_pipeline("toy.meta", profile="trio", run_id="meta-dmg-2")
    assert second.status == "succeeded"
    assert second.context.meta_weights == first.context.meta_weights
    assert [e.cache_hit for e in second.ledger] == [False, False]  # the fan-out line is never a hit


# -- 3. crash-safe records: whole lines, torn tails tolerated, full disks named -----------------


class FullDisk:
    """Writes to the files `refuses(path)` picks are cut short (line appends) or refused (atomic
    writes) with ENOSPC, as on a full disk; `free()` gives the space back."""

    def __init__(self) -> None:
        self.refuses: Callable[[str], bool] = lambda path: False

    def fill(self, refuses: Callable[[str], bool]) -> None:
        self.refuses = refuses

    def free(self) -> None:
        self.refuses = lambda path: False


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    disk = FullDisk()
    real_write, real_open = os.write, open

    def path_of(fd: int) -> str:
        return os.readlink(f"/proc/self/fd/{fd}")

    def short_write(fd: int, data: bytes) -> int:
        if disk.refuses(path_of(fd)):
            return real_write(fd, data[: len(data) // 2])  # what a disk with room for half does
        return real_write(fd, data)

    def refusing_open(fd: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(fd, int) and disk.refuses(path_of(fd)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(fd, mode, *args, **kwargs)

    # At the file boundary of quant_core: its line appends (os.write) and atomic writes (open).
    monkeypatch.setattr(journal_module.os, "write", short_write)
    monkeypatch.setattr(artifacts_module, "open", refusing_open, raising=False)
    return disk


def test_a_full_disk_names_the_file_leaves_whole_lines_and_the_run_resumes(sdk: QuantSDK, full_disk: FullDisk) -> None:
    record = sdk.record("enospc-1")
    full_disk.fill(lambda path: path == str(record.contexts_path) and record.contexts_path.stat().st_size > 0)
    with pytest.raises(StageFailedError) as caught:
        sdk.run_pipeline("toy.portfolio", run_id="enospc-1")
    assert caught.value.stage_id == "toy.seed"
    assert f"cannot write {record.contexts_path}: No space left on device" in str(caught.value)
    assert record.contexts_path.read_bytes().endswith(b"\n")  # the half line was taken out again
    assert [(e.stage_id, e.status) for e in record.read_ledger()] == [("toy.seed", "failed")]
    assert record.read_manifest().status == "failed"

    full_disk.free()
    resumed = sdk.resume("enospc-1")
    assert resumed.status == "succeeded" and resumed.context.backtest == {"total": 20.0}
    assert _hits(resumed) == [True, False, False]  # toy.seed's cache entry was written before the line


def test_a_full_disk_when_writing_the_cache_leaves_a_failed_ledger_line(sdk: QuantSDK, full_disk: FullDisk) -> None:
    full_disk.fill(lambda path: str(sdk.home.cache_dir) in path)
    with pytest.raises(StageFailedError) as caught:
        sdk.run_stage("toy.noop", run_id="enospc-cache")
    (line,) = sdk.record("enospc-cache").read_ledger()
    assert line.status == "failed"
    assert line.error.startswith(f"StoreWriteError: cannot write {sdk.home.cache_dir}/")
    assert "No space left on device (errno 28)" in str(caught.value)


def test_a_full_disk_when_closing_the_record_leaves_a_run_that_reads_interrupted_and_resumes(
    sdk: QuantSDK, full_disk: FullDisk
) -> None:
    record = sdk.record("enospc-close")
    full_disk.fill(lambda path: str(record.path) in path and ("manifest" in path or "ledger" in path) and record.exists())
    with pytest.raises(StoreWriteError) as caught:
        sdk.run_stage("toy.noop", run_id="enospc-close")
    assert str(record.ledger_path) in str(caught.value)
    assert any("could not be closed" in note for note in caught.value.__notes__)
    assert record.read_manifest().status == "interrupted"  # written "running"; its process let go
    full_disk.free()
    assert sdk.resume("enospc-close").status == "succeeded"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs (skipped where this process may not mount one)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_real_full_disk_fails_the_run_with_the_path_and_it_resumes_once_space_is_back(
    make_sdk: Callable[..., QuantSDK], tiny_disk: Path, tmp_path: Path
) -> None:
    registry = toy_registry()
    sdk = QuantSDK(home=tiny_disk / "home", registry=registry, profiles=make_sdk().profiles)
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (2 * 1024 * 1024 - 160 * 1024))  # leaves room for toy.seed only
    params = {"toy.seed": {"n": 6000}}
    with pytest.raises(QuantError) as caught:
        sdk.run_pipeline("toy.portfolio", params=params, run_id="tiny")
    assert str(tiny_disk / "home") in str(caught.value) and "No space left on device" in str(caught.value)
    record = sdk.record("tiny")
    for path in (record.ledger_path, record.contexts_path):
        assert not path.exists() or path.read_bytes().endswith(b"\n")  # whole lines only
    assert record.read_manifest().status in ("failed", "interrupted")

    filler.unlink()
    resumed = sdk.resume("tiny")
    reference = QuantSDK(home=tmp_path / "reference", registry=toy_registry()).run_pipeline(
        "toy.portfolio", params=params, run_id="tiny"
    )
    assert resumed.status == "succeeded"
    assert resumed.context.cache_view() == reference.context.cache_view()


def test_readers_tolerate_and_report_a_torn_last_line_and_the_next_writer_drops_it(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="torn-1")
    record = sdk.record("torn-1")
    whole = record.contexts_path.read_bytes()
    with record.contexts_path.open("ab") as handle:
        handle.write(b'{"name":"004-toy.extra","context":{"kind":"selec')  # a crash mid-write
    with record.ledger_path.open("ab") as handle:
        handle.write(b'{"run_id":"torn-1","st')

    assert record.last_context().backtest == {"total": 20.0}
    assert len(record.read_ledger()) == 3
    _, problems = record.scan_ledger()
    (problem,) = problems
    assert (problem.path, problem.line, problem.torn) == (str(record.ledger_path), 4, True)

    assert sdk.resume("torn-1").status == "succeeded"
    assert record.contexts_path.read_bytes().startswith(whole)
    assert all(not p for p in (record.scan_ledger()[1], record.scan_contexts()[1]))


def test_a_damaged_line_in_the_middle_is_named_with_its_line_number(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="mid-1")
    record = sdk.record("mid-1")
    lines = record.ledger_path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"succeeded"', b'"succeedex"')
    record.ledger_path.write_bytes(b"\n".join(lines))
    with pytest.raises(StoreDamagedError) as caught:
        record.read_ledger()
    assert str(caught.value).startswith(f"{record.ledger_path}, line 2 is damaged: ")


def test_a_manifest_changed_by_one_byte_is_damaged_not_another_request(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", params={"n": 4}, run_id="man-1")
    record = sdk.record("man-1")
    record.manifest_path.write_bytes(record.manifest_path.read_bytes().replace(b'"n": 4', b'"n": 5'))
    with pytest.raises(StoreDamagedError, match="content does not match its checksum"):
        sdk.resume("man-1")


# -- 5. listing: one damaged run is named, the others listed -------------------------------------


def test_a_garbage_manifest_is_listed_as_damaged_and_the_others_are_listed(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.portfolio", run_id="ok-1")
    sdk.run_pipeline("toy.portfolio", run_id="bad-1")
    (sdk.home.runs_dir / "bad-1" / "manifest.json").write_bytes(b"\x00\xffgarbage")
    scan = sdk.scan_runs()
    assert [m.run_id for m in scan.manifests] == ["ok-1"]
    (damaged,) = scan.damaged
    assert damaged.path == str(sdk.home.runs_dir / "bad-1" / "manifest.json")
    with pytest.raises(StoreDamagedError):
        sdk.list_runs()


def test_a_garbage_ledger_line_of_a_sleeve_is_named_and_the_sleeve_and_parent_resume(sdk: QuantSDK) -> None:
    first = sdk.run_pipeline("toy.meta", profile="trio", run_id="garb")
    sleeve = sdk.record("garb.alpha")
    lines = sleeve.ledger_path.read_bytes().split(b"\n")
    lines.insert(1, b"garbage \xff line")
    sleeve.ledger_path.write_bytes(b"\n".join(lines))
    _, problems = sleeve.scan_ledger()
    assert [(p.path, p.line, p.torn) for p in problems] == [(str(sleeve.ledger_path), 2, False)]

    assert sdk.resume("garb.alpha").status == "succeeded"
    parent = sdk.resume("garb")
    assert parent.status == "succeeded" and parent.context.meta_weights == first.context.meta_weights


# -- 6. the run lock: one process per run id, interrupted runs found and resumed -----------------


def _waiting_sdk(make_sdk: Callable[..., QuantSDK]) -> QuantSDK:
    registry = toy_registry()
    registry.register(WaitForFile)
    return make_sdk(registry=registry)


def _wait_for(path: Path, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.02)


def test_a_second_start_of_a_running_run_id_is_refused(make_sdk, tmp_path: Path) -> None:
    sdk = _waiting_sdk(make_sdk)
    release = tmp_path / "release"
    outcome: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: outcome.update(result=sdk.run_stage("toy.wait", params={"release": str(release)}, run_id="busy")),
    )
    first.start()
    try:
        _wait_for(release.with_name("release.started"))
        assert sdk.record("busy").read_manifest().status == "running"
        with pytest.raises(RunLockedError) as caught:
            sdk.run_stage("toy.wait", params={"release": str(release)}, run_id="busy")
        assert caught.value.exit_code == 2
        assert f"run 'busy' is already running (pid {os.getpid()} on host " in str(caught.value)
    finally:
        release.touch()
        first.join(START_TIMEOUT_S)
    assert outcome["result"].status == "succeeded"
    assert [e.status for e in sdk.record("busy").read_ledger()] == ["succeeded"]  # one run, one line


WAITING_RUN_SCRIPT = textwrap.dedent(
    """
    import sys
    from quant_core import ProfileCatalog, QuantSDK
    from quant_core.testing import WaitForFile, toy_profiles, toy_registry

    home, release = sys.argv[1], sys.argv[2]
    registry = toy_registry()
    registry.register(WaitForFile)
    sdk = QuantSDK(home=home, registry=registry, profiles=ProfileCatalog([toy_profiles()]))
    sdk.run_stage("toy.wait", params={"release": release}, run_id="killed")
    """
)


def test_a_run_whose_process_was_killed_reads_as_interrupted_and_resumes(make_sdk, tmp_path: Path) -> None:
    sdk = _waiting_sdk(make_sdk)
    release = tmp_path / "release"
    child = subprocess.Popen([sys.executable, "-c", WAITING_RUN_SCRIPT, str(sdk.home.root), str(release)])
    try:
        _wait_for(release.with_name("release.started"))
        running = sdk.record("killed").read_manifest()
        assert running.status == "running" and running.owner["pid"] == child.pid
    finally:
        child.kill()
        child.wait(START_TIMEOUT_S)
    interrupted = sdk.record("killed").read_manifest()
    assert (interrupted.status, interrupted.owner["pid"]) == ("interrupted", child.pid)
    assert [m.status for m in scan_runs(sdk.home.runs_dir).manifests] == ["interrupted"]

    release.touch()
    resumed = sdk.resume("killed")
    assert (resumed.status, resumed.manifest.invocations) == ("succeeded", 2)
    assert resumed.manifest.owner["pid"] == os.getpid()


# -- 4. worker pools never outlive the command ---------------------------------------------------

POOL_SCRIPT = textwrap.dedent(
    """
    import sys
    from quant_core import ProfileCatalog, QuantSDK
    from quant_core.pipeline import FanOutStep, PipelineSpec
    from quant_core.testing import WaitForFile, toy_profiles, toy_registry

    home, release = sys.argv[1], sys.argv[2]
    registry = toy_registry()
    registry.register(WaitForFile)
    registry.register_pipeline(PipelineSpec.of("probe.hold", "toy.seed", {"stage": "toy.wait", "params": {"release": release}}))
    registry.register_pipeline(PipelineSpec.of("probe.meta_hold", FanOutStep(pipeline="probe.hold"), context_kind="meta"))
    sdk = QuantSDK(home=home, registry=registry, profiles=ProfileCatalog([toy_profiles()]))
    sdk.run_pipeline("probe.meta_hold", profile="trio", run_id="pooled", executor_options={"workers": 3})
    """
)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its entry waits for a parent to reap it


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks the process tree in /proc")
def test_pool_workers_exit_within_seconds_when_their_parent_is_killed(tmp_path: Path) -> None:
    release = tmp_path / "release"
    parent = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT, str(tmp_path / "home"), str(release)])
    try:
        _wait_for(release.with_name("release.started"))
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(pool := _descendants(parent.pid)) < 5:  # resource tracker, forkserver, 3 workers
            assert time.monotonic() < deadline, f"the pool did not start: {pool}"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait(START_TIMEOUT_S)
    deadline = time.monotonic() + 30
    while alive := {pid for pid in pool if _alive(pid)}:
        assert time.monotonic() < deadline, f"pool processes {sorted(alive)} outlived their parent"
        time.sleep(0.1)
    runs = scan_runs(tmp_path / "home" / "runs").manifests
    assert {m.run_id: m.status for m in runs}["pooled"] == "interrupted"


# -- 7. a sleeve run resumes on its own -----------------------------------------------------------


def test_a_sleeve_run_resumes_on_its_own(sdk: QuantSDK) -> None:
    sdk.run_pipeline("toy.meta", profile="trio", run_id="sl")
    resumed = sdk.resume("sl.beta")
    assert (resumed.status, resumed.manifest.parent_run_id) == ("succeeded", "sl")
    assert _hits(resumed) == [True, True, True]


# -- 8. bad input refused before anything is written ---------------------------------------------


def test_a_run_id_with_a_trailing_newline_is_refused(sdk: QuantSDK) -> None:
    with pytest.raises(InvalidRunIdError):
        sdk.run_pipeline("toy.portfolio", run_id="abc\n")
    assert not sdk.home.runs_dir.exists()


def test_a_run_id_too_long_for_its_sleeves_is_refused_before_the_parent_record(sdk: QuantSDK) -> None:
    with pytest.raises(InvalidRunIdError) as caught:
        sdk.run_pipeline("toy.meta", profile="trio", run_id="m" * 128)
    assert "m" * 128 + ".alpha" in str(caught.value)
    assert not sdk.home.runs_dir.exists()


def test_a_sleeve_naming_an_unknown_profile_says_which_sleeve_and_profile(make_sdk) -> None:
    from quant_core import ProfileCatalog
    from quant_core.profiles import ResolvedProfile
    from quant_core.context import SleeveSpec

    profiles = toy_profiles()
    profiles.profiles["broken"] = ResolvedProfile(
        name="broken", kind="meta", source="/srv/profiles/broken.toml",
        sleeves=[SleeveSpec(name="alpha", profile="small"), SleeveSpec(name="odd", profile="smal")],
    )
    sdk = QuantSDK(home=make_sdk().home, registry=toy_registry(), profiles=ProfileCatalog([profiles]))
    with pytest.raises(ProfileNotFoundError) as caught:
        sdk.run_pipeline("toy.meta", profile="broken", run_id="x")
    assert str(caught.value) == (
        "profile 'broken' (/srv/profiles/broken.toml): sleeve 'odd' names an unknown profile 'smal'; "
        "did you mean 'small'?"
    )
    assert caught.value.exit_code == 3


def test_a_refused_lock_writes_nothing_into_the_running_record(make_sdk, tmp_path: Path) -> None:
    sdk = _waiting_sdk(make_sdk)
    release = tmp_path / "release"
    worker = threading.Thread(target=lambda: sdk.run_stage("toy.wait", params={"release": str(release)}, run_id="held"))
    worker.start()
    try:
        _wait_for(release.with_name("release.started"))
        before = {p.name: p.read_bytes() for p in sdk.record("held").path.iterdir() if p.name != "lock"}
        with pytest.raises(ParamValidationError):
            sdk.run_stage("toy.noop", run_id="held")
        after = {p.name: p.read_bytes() for p in sdk.record("held").path.iterdir() if p.name != "lock"}
        assert after == before
    finally:
        release.touch()
        worker.join(START_TIMEOUT_S)
