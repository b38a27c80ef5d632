"""`portfolio.full` with its artifacts and cache on a real S3 server (moto's, on 127.0.0.1).

One machine runs it with `--store s3://bucket/prefix`; another machine (a fresh QUANT_HOME and a
fresh read-through cache) runs it again and is served from the cache on S3; both match a run on
a local store bit for bit; an object damaged through the S3 API is detected as a damaged file is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quant_core import QuantSDK
from quant_core.errors import ArtifactCorruptedError
from quant_core.stores import StoreLocation
from typer.testing import CliRunner

from quant_cli.app import build_app, default_sdk
from storekit import write_profiles

PIPELINE = ["pipeline", "run", "portfolio.full", "--profile", "tiny_sleeve", "--json"]


def run_cli(args: list[str], home: Path, *, read_cache: Path, store: str | None = None, options: dict | None = None) -> dict[str, Any]:
    write_profiles(home)
    env = {"QUANT_HOME": str(home), "QUANT_STORE_READ_CACHE": str(read_cache)}
    extra = [] if store is None else ["--store", store, "--store-options", json.dumps(options or {})]
    result = CliRunner().invoke(build_app(default_sdk), [*args, *extra], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stage_hashes(home: Path, run_id: str) -> dict[str, tuple[str | None, bool]]:
    ledger = QuantSDK(home=home).record(run_id).read_ledger()
    return {entry.stage_id: (entry.output_hash, entry.cache_hit) for entry in ledger}


def final_view(home: Path, run_id: str) -> dict[str, Any]:
    return QuantSDK(home=home).last_context(run_id).cache_view()


def object_keys(server, bucket: str, prefix: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_portfolio_on_s3_is_shared_across_machines_and_identical_to_a_local_store(s3_server, bucket, tmp_path: Path) -> None:
    url = f"s3://{bucket}/team/quant"
    first = run_cli([*PIPELINE, "--run-id", "on-s3"], tmp_path / "machine-a", read_cache=tmp_path / "reads-a", store=url, options=s3_server.options)
    assert first["status"] == "succeeded"

    keys = object_keys(s3_server, bucket, "team/quant/")
    artifacts = [k for k in keys if k.startswith("team/quant/artifacts/")]
    entries = [k for k in keys if k.startswith("team/quant/cache/")]
    assert artifacts and entries
    assert not [k for k in keys if "/.tmp/" in k]  # every temporary key was published or removed
    # nothing of the store was written into the driver's home: only its run record and profiles
    assert sorted(p.name for p in (tmp_path / "machine-a").iterdir()) == ["profiles", "runs"]

    second = run_cli([*PIPELINE, "--run-id", "again"], tmp_path / "machine-b", read_cache=tmp_path / "reads-b", store=url, options=s3_server.options)
    on_s3 = stage_hashes(tmp_path / "machine-a", "on-s3")
    again = stage_hashes(tmp_path / "machine-b", "again")
    assert all(hit for _, hit in again.values()), again  # served from the cache on S3
    assert {k: h for k, (h, _) in again.items()} == {k: h for k, (h, _) in on_s3.items()}
    assert second["status"] == "succeeded"

    local = run_cli([*PIPELINE, "--run-id", "on-disk"], tmp_path / "machine-c", read_cache=tmp_path / "reads-c")
    on_disk = stage_hashes(tmp_path / "machine-c", "on-disk")
    assert not any(hit for _, hit in on_disk.values())
    assert {k: h for k, (h, _) in on_disk.items()} == {k: h for k, (h, _) in on_s3.items()}
    assert final_view(tmp_path / "machine-c", "on-disk") == final_view(tmp_path / "machine-a", "on-s3") == final_view(tmp_path / "machine-b", "again")
    assert local["status"] == "succeeded"

    # The weights' bytes on S3 are the local store's bytes.
    weights = QuantSDK(home=tmp_path / "machine-c").last_context("on-disk").weights
    local_bytes = QuantSDK(home=tmp_path / "machine-c").home.artifact_store().get(weights)
    body = s3_server.client().get_object(Bucket=bucket, Key=f"team/quant/artifacts/{weights.sha256[:2]}/{weights.sha256}")["Body"].read()
    assert body == local_bytes


def test_an_object_damaged_through_the_s3_api_is_detected_as_on_disk(s3_server, bucket, tmp_path: Path) -> None:
    location = StoreLocation.parse(f"s3://{bucket}/p", options=s3_server.options, read_cache=tmp_path / "reads")
    store = location.artifact_store()
    ref = store.put(b"the returns matrix", "application/octet-stream")
    s3_server.client().put_object(Bucket=bucket, Key=f"p/artifacts/{ref.sha256[:2]}/{ref.sha256}", Body=b"the returns matrlx")

    fresh = StoreLocation.parse(location.url, options=s3_server.options, read_cache=tmp_path / "other-machine").artifact_store()
    with pytest.raises(ArtifactCorruptedError, match=rf"s3://{bucket}/p/artifacts/{ref.sha256[:2]}/{ref.sha256} is damaged: its content hashes to"):
        fresh.get(ref)
    # the same damage to a file of a local store, the same error
    disk = StoreLocation.parse(tmp_path / "disk").artifact_store()
    disk.put(b"the returns matrix", "application/octet-stream")
    disk.path_for(ref.sha256).write_bytes(b"the returns matrlx")
    with pytest.raises(ArtifactCorruptedError, match=r"is damaged: its content hashes to"):
        disk.get(ref)
    # a writer that finds a damaged object of another size publishes it again
    s3_server.client().put_object(Bucket=bucket, Key=f"p/artifacts/{ref.sha256[:2]}/{ref.sha256}", Body=b"cut")
    assert fresh.put(b"the returns matrix", "application/octet-stream") == ref
    assert StoreLocation.parse(location.url, options=s3_server.options, read_cache=tmp_path / "third").artifact_store().get(ref) == b"the returns matrix"


def test_run_records_published_under_the_store_are_read_from_another_machine(s3_server, bucket, tmp_path: Path) -> None:
    from quant_core import ProfileCatalog
    from quant_core.testing import toy_profiles, toy_registry

    store = StoreLocation.parse(f"s3://{bucket}/team", options=s3_server.options, read_cache=tmp_path / "reads", runs=True)
    driver = QuantSDK(home=tmp_path / "driver", registry=toy_registry(), profiles=ProfileCatalog([toy_profiles(("beta",))]), store=store)
    with pytest.raises(Exception, match="sleeve"):
        driver.run_pipeline("toy.meta", profile="trio", run_id="shared-run")  # beta fails: published all the same
    keys = object_keys(s3_server, bucket, "team/runs/")
    assert {k.split("/")[2] for k in keys} == {"shared-run", "shared-run.alpha", "shared-run.beta", "shared-run.gamma"}

    # Another machine, through the quant command: the run, its ledger and its sleeves are there.
    env = {"QUANT_HOME": str(tmp_path / "laptop"), "QUANT_STORE_READ_CACHE": str(tmp_path / "reads-2"), "QUANT_STORE_RUNS": "1"}
    args = ["--store", store.url, "--store-options", json.dumps(s3_server.options), "--json"]
    shown = CliRunner().invoke(build_app(default_sdk), ["runs", "show", "shared-run", *args], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["manifest"]["status"] == "failed"
    assert {s["run_id"]: s["status"] for s in document["sleeves"]} == {
        "shared-run.alpha": "succeeded", "shared-run.beta": "failed", "shared-run.gamma": "succeeded",
    }
    assert [e["stage_id"] for e in document["sleeves"][0]["ledger"]] == ["toy.seed", "toy.scale", "toy.sum"]
    listed = CliRunner().invoke(build_app(default_sdk), ["runs", "list", *args], env=env, catch_exceptions=False)
    assert "shared-run" in {run["run_id"] for run in json.loads(listed.stdout)["runs"]}


def test_a_damaged_object_makes_a_cache_hit_a_miss_that_repairs_it_as_on_disk(s3_server, bucket, tmp_path: Path) -> None:
    url = f"s3://{bucket}/q"
    run_cli([*PIPELINE, "--run-id", "first"], tmp_path / "a", read_cache=tmp_path / "reads-a", store=url, options=s3_server.options)
    weights = QuantSDK(home=tmp_path / "a").last_context("first").weights
    key = f"q/artifacts/{weights.sha256[:2]}/{weights.sha256}"
    body = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    flipped = body[:-1] + bytes([body[-1] ^ 0xFF])  # same size, one byte changed
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=flipped)

    run_cli([*PIPELINE, "--run-id", "second"], tmp_path / "b", read_cache=tmp_path / "reads-b", store=url, options=s3_server.options)
    ledger = {e.stage_id: e for e in QuantSDK(home=tmp_path / "b").record("second").read_ledger()}
    optimize = ledger["allocation.optimize"]
    assert not optimize.cache_hit and any(weights.sha256 in problem for problem in optimize.repaired)
    assert all(e.cache_hit for sid, e in ledger.items() if sid != "allocation.optimize")
    assert optimize.output_hash == {e.stage_id: e for e in QuantSDK(home=tmp_path / "a").record("first").read_ledger()}["allocation.optimize"].output_hash
    assert s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == body  # published whole again
