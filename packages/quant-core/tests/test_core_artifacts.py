"""Issue point 5: the content-addressed artifact store and where QUANT_HOME is."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

import quant_core.artifacts as artifacts_module
from quant_core import ArtifactCorruptedError, ArtifactError, ArtifactNotFoundError, ArtifactRef, ArtifactStore, QuantHome
from quant_core.artifacts import write_atomic

HELLO_SHA = hashlib.sha256(b"hello").hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_stores_bytes_under_their_sha256(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put(b"hello", "text/plain")
    assert ref == ArtifactRef(
        sha256="2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        size=5, media_type="text/plain",
        uri="quant-artifact:sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    )
    assert ref.sha256 == HELLO_SHA
    assert _files(tmp_path) == [f"2c/{HELLO_SHA}"]
    assert store.get(ref) == b"hello"
    assert store.exists(ref)


def test_json_artifacts_are_canonical(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    first = store.put_json({"b": [1, 2.5], "a": "é"})
    second = store.put_json({"a": "é", "b": [1, 2.5]})
    assert first == second
    assert store.get(first) == '{"a":"é","b":[1,2.5]}'.encode()
    assert store.get_json(first) == {"a": "é", "b": [1, 2.5]}
    assert first.media_type == "application/json"


def test_re_putting_equal_bytes_is_a_no_op(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put(b"hello", "text/plain")
    path = store.path_for(ref.sha256)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert store.put(b"hello", "text/plain") == ref
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert _files(tmp_path) == [f"2c/{HELLO_SHA}"]


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    for index in range(20):
        store.put(f"payload {index}".encode(), "text/plain")
    names = _files(tmp_path)
    assert len(names) == 20
    assert not [n for n in names if n.endswith(".tmp") or "/." in n]


def test_artifacts_are_readable_by_other_workers(tmp_path: Path) -> None:
    # A store root may be a shared path read by workers of other processes and machines.
    ref = ArtifactStore(tmp_path).put(b"hello", "text/plain")
    mode = stat.S_IMODE(ArtifactStore(tmp_path).path_for(ref.sha256).stat().st_mode)
    assert mode & 0o044 == 0o044


def test_a_failure_during_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifacts_module.os, "replace", failing_replace)
    store = ArtifactStore(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        store.put(b"hello", "text/plain")
    assert _files(tmp_path) == []


def test_an_interrupted_write_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "manifest.json"
    write_atomic(target, b"old")

    class Interrupted(BaseException):
        pass

    real_open = open

    def open_that_breaks_mid_write(fd: int, mode: str):
        handle = real_open(fd, mode)

        class Breaking:
            def __enter__(self):
                return self

            def __exit__(self, *exc: object) -> None:
                handle.close()

            def write(self, data: bytes) -> None:
                handle.write(data[:2])
                raise Interrupted

        return Breaking()

    # write_atomic opens its temp file descriptor with the builtin `open`
    monkeypatch.setattr(artifacts_module, "open", open_that_breaks_mid_write, raising=False)
    with pytest.raises(Interrupted):
        write_atomic(target, b"new content")
    assert target.read_bytes() == b"old"
    assert _files(tmp_path) == ["manifest.json"]


def test_reading_a_missing_artifact_is_a_clear_error(tmp_path: Path) -> None:
    ref = ArtifactRef.for_bytes(b"never stored", "text/plain")
    with pytest.raises(ArtifactNotFoundError) as caught:
        ArtifactStore(tmp_path).get(ref)
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ArtifactError)
    assert str(caught.value) == f"artifact {ref.sha256} (text/plain) is not in the store at {tmp_path}"


def test_reading_a_corrupted_artifact_is_a_clear_error(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put(b"hello", "text/plain")
    store.path_for(ref.sha256).write_bytes(b"jello")
    with pytest.raises(ArtifactCorruptedError) as caught:
        store.get(ref)
    assert str(caught.value) == (
        f"{store.path_for(ref.sha256)} is damaged: its content hashes to "
        f"{hashlib.sha256(b'jello').hexdigest()}, not to its name (`quant store verify` checks the whole store)"
    )


def test_putting_again_repairs_a_truncated_artifact(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put(b"hello", "text/plain")
    store.path_for(ref.sha256).write_bytes(b"hel")
    assert store.put(b"hello", "text/plain") == ref
    assert store.get(ref) == b"hello"


def test_quant_home_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert QuantHome.resolve(environ={}).root == tmp_path / ".quant"
    assert QuantHome.resolve(environ={"QUANT_HOME": ""}).root == tmp_path / ".quant"
    assert QuantHome.resolve(environ={"QUANT_HOME": "state"}).root == tmp_path / "state"
    assert QuantHome.resolve(environ={"QUANT_HOME": "/srv/quant"}).root == Path("/srv/quant")
    assert QuantHome.resolve("explicit", environ={"QUANT_HOME": "/srv/quant"}).root == tmp_path / "explicit"
    home = QuantHome.resolve(environ={"QUANT_HOME": "/srv/quant"})
    assert home.artifacts_dir == Path("/srv/quant/artifacts")
    assert home.runs_dir == Path("/srv/quant/runs")
    assert home.cache_dir == Path("/srv/quant/cache")
    assert home.artifact_store().root == Path("/srv/quant/artifacts")


def test_artifact_store_pickles_as_its_root(tmp_path: Path) -> None:
    import pickle

    store = pickle.loads(pickle.dumps(ArtifactStore(tmp_path)))
    assert store.root == tmp_path
    assert repr(store) == f"ArtifactStore({str(tmp_path)!r})"
