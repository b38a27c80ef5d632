"""The store location (a path or a URL), the fsspec-backed store and cache, the read-through cache.

The fsspec store is exercised here on fsspec's in-memory file system; tests/store runs the same
code against a real S3 server."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from quant_core import ParamValidationError, ProfileCatalog, QuantHome, QuantSDK
from quant_core.artifacts import ArtifactRef
from quant_core.errors import ArtifactCorruptedError, ArtifactNotFoundError
from quant_core.stores import StoreLocation
from quant_core.stores.read_cache import ReadCache
from quant_core.testing import toy_profiles, toy_registry


def test_a_path_or_file_url_is_a_local_absolute_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert StoreLocation.parse("shared").url == str(tmp_path / "shared")
    assert StoreLocation.parse(f"file://{tmp_path}/x").url == str(tmp_path / "x")
    assert StoreLocation.parse("shared").is_local
    assert StoreLocation.parse("shared").artifact_store().root == tmp_path / "shared" / "artifacts"


def test_a_url_keeps_its_scheme_and_loses_its_trailing_slash() -> None:
    location = StoreLocation.parse("S3://bucket/prefix/", options={"endpoint_url": "http://127.0.0.1:9"})
    assert (location.url, location.scheme, location.is_local) == ("s3://bucket/prefix", "s3", False)
    assert location.join("cache") == "s3://bucket/prefix/cache"
    assert location.options == (("endpoint_url", "http://127.0.0.1:9"),)


@pytest.mark.parametrize(
    ("value", "options", "rule"),
    [("", None, "non-empty"), ("s3://", None, "bucket"), ("s3://b", {"client_kwargs": {"a": 1}}, "scalar")],
)
def test_a_bad_location_is_a_parameter_error_naming_the_rule(value: str, options, rule: str) -> None:
    with pytest.raises(ParamValidationError) as caught:
        StoreLocation.parse(value, options=options)
    assert caught.value.rule == rule


def test_an_explicit_store_wins_over_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert QuantHome.resolve(home, environ={"QUANT_STORE": "s3://not/read/here"}).store_location.url == str(home)
    given = QuantHome.resolve(home, environ={}, store="gs://given/q", store_options={"anon": True}).store_location
    assert (given.url, given.options) == ("gs://given/q", (("anon", True),))


def test_the_runtime_carries_the_store_location_to_workers_as_a_url(tmp_path: Path) -> None:
    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), store="s3://bucket/prefix", store_options={"endpoint_url": "http://h:1"})
    runtime = pickle.loads(pickle.dumps(sdk.runtime()))
    assert runtime.home.store == StoreLocation("s3://bucket/prefix", (("endpoint_url", "http://h:1"),))
    assert b"s3://bucket/prefix" in pickle.dumps(sdk.runtime())


def test_an_unknown_protocol_is_named_when_the_store_is_opened() -> None:
    pytest.importorskip("fsspec")
    with pytest.raises(ParamValidationError, match="store 'nosuchproto://b/q'") as caught:
        StoreLocation.parse("nosuchproto://b/q").artifact_store()
    assert caught.value.rule == "protocol"


@pytest.fixture
def memory_location(tmp_path: Path, request: pytest.FixtureRequest) -> StoreLocation:
    pytest.importorskip("fsspec")
    return StoreLocation.parse(f"memory://quant-tests/{request.node.name}", read_cache=tmp_path / "reads")


def test_the_fsspec_store_publishes_verifies_and_reads_through(memory_location: StoreLocation) -> None:
    store = memory_location.artifact_store()
    ref = store.put(b"hello", "text/plain")
    assert store.put(b"hello", "text/plain") == ref and store.exists(ref) and store.has(ref.sha256)
    assert store.files.fs.find(store.files.path(".tmp")) == []  # published, nothing left behind
    assert store.get(ref) == b"hello"
    assert store.get_json(store.put_json({"a": [1, 2]})) == {"a": [1, 2]}
    missing = ArtifactRef.for_bytes(b"never stored", "text/plain")
    with pytest.raises(ArtifactNotFoundError, match="is not in the store at memory://"):
        store.get(missing)

    store.files.fs.pipe_file(store._path(ref.sha256), b"jello")  # damage the object itself
    assert store.get(ref) == b"hello"  # this machine's copy is the right content
    other_machine = StoreLocation.parse(memory_location.url, read_cache=Path(memory_location.read_cache) / "other")
    with pytest.raises(ArtifactCorruptedError, match=rf"memory://.*/{ref.sha256} is damaged"):
        other_machine.artifact_store().get(ref)


def test_a_toy_pipeline_on_a_url_store_is_a_cache_hit_from_another_home(memory_location: StoreLocation, tmp_path: Path) -> None:
    def run(home: str, run_id: str):
        sdk = QuantSDK(home=tmp_path / home, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]), store=memory_location)
        return sdk.run_pipeline("toy.meta", profile="trio", run_id=run_id)

    def hits(result, home: str) -> list[bool]:
        sdk = QuantSDK(home=tmp_path / home, store=memory_location)  # the sleeve results are kept there
        sleeves = [sdk.record(r.run_id).read_ledger() for r in sdk.expanded(result.context).sleeve_results]
        entries = [*result.ledger, *[e for ledger in sleeves for e in ledger]]
        return [e.cache_hit for e in entries if not e.stage_id.startswith("fan_out.")]

    first = run("one", "first")
    second = run("two", "second")
    assert not all(hits(first, "one")) and all(hits(second, "two")) and len(hits(second, "two")) == 10
    assert second.context.meta_weights == first.context.meta_weights
    assert not (tmp_path / "one" / "artifacts").exists() and not (tmp_path / "one" / "cache").exists()


def test_the_read_cache_is_bounded_and_drops_the_least_recently_read(tmp_path: Path) -> None:
    import os

    cache = ReadCache(tmp_path / "reads", max_bytes=100)
    refs = [ArtifactRef.for_bytes(bytes([i]) * 40, "application/octet-stream") for i in range(3)]
    for age, ref in enumerate(refs[:2]):
        cache.keep(ref, bytes([refs.index(ref)]) * 40)
        os.utime(cache.store.path_for(ref.sha256), (1000 + age, 1000 + age))
    assert cache.get(refs[0]) is not None  # read now: the most recent
    cache.keep(refs[2], bytes([2]) * 40)  # 120 bytes > 100: evict down to 80
    assert cache.size() <= 80
    assert cache.get(refs[1]) is None and cache.get(refs[0]) is not None and cache.get(refs[2]) is not None
    cache.keep(ArtifactRef.for_bytes(b"x" * 101, "a/b"), b"x" * 101)  # larger than the bound: not kept
    assert cache.size() <= 80

    cache.store.path_for(refs[0].sha256).write_bytes(b"damaged")
    assert cache.get(refs[0]) is None and not cache.store.has(refs[0].sha256)  # dropped, read again


_PROBE = """
import json, sys, tempfile
from quant_core import ProfileCatalog, QuantSDK
from quant_core.testing import toy_profiles, toy_registry

sdk = QuantSDK(home=tempfile.mkdtemp(), registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))
sdk.run_pipeline("toy.meta", profile="trio", run_id="probe")
before = sorted(m for m in sys.modules if m.split(".")[0] in ("fsspec", "s3fs", "botocore", "aiobotocore"))
sdk = QuantSDK(home=tempfile.mkdtemp(), registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]),
               store="memory://probe/q")
sdk.run_pipeline("toy.meta", profile="trio", run_id="probe")
print(json.dumps({"local": before, "url": "fsspec" in sys.modules}))
"""


def test_fsspec_is_imported_only_when_a_url_store_is_used(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, cwd=tmp_path,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert json.loads(done.stdout) == {"local": [], "url": True}


def test_the_configuration_gives_the_store_its_options_and_read_cache(tmp_path: Path) -> None:
    from quant_core.config import ConfigError, QuantConfig

    (tmp_path / "quant.toml").write_text(
        'home = "state"\nstore = "s3://team/quant"\nstore_options = { endpoint_url = "http://minio:9000" }\n'
        'store_read_cache = "reads"\n'
    )
    config = QuantConfig.load(environ={}, cwd=tmp_path)
    assert config.home.store == StoreLocation(
        "s3://team/quant", (("endpoint_url", "http://minio:9000"),), str(tmp_path / "reads")
    )
    # the environment over the file, a flag over both; options as JSON there
    environ = {"QUANT_STORE": "gs://other/q", "QUANT_STORE_OPTIONS": '{"token": "anon"}'}
    from_env = QuantConfig.load(environ=environ, cwd=tmp_path).home.store
    assert (from_env.url, from_env.options) == ("gs://other/q", (("token", "anon"),))
    flagged = QuantConfig.load(environ=environ, cwd=tmp_path, flags={"store": ("--store", "shared")}).home.store
    assert flagged.url == str(tmp_path / "shared")
    with pytest.raises(ConfigError, match="env QUANT_STORE_OPTIONS: store_options"):
        QuantConfig.load(environ={"QUANT_STORE_OPTIONS": "[1]"}, cwd=tmp_path)
    # no store anywhere: the home itself
    (tmp_path / "elsewhere").mkdir()
    bare = QuantConfig.load(environ={}, cwd=tmp_path / "elsewhere").home
    assert bare.store_location.url == str(tmp_path / "elsewhere" / ".quant") == str(bare.root)
