"""Workers get the store from the driver, inside the Runtime, never from their own environment:
the local executor's process pool runs sleeves against the S3 store the driver was given, while
the workers' environment names another store and another home."""

from __future__ import annotations

from pathlib import Path

import pytest
from quant_core import ProfileCatalog, QuantSDK
from quant_core.stores import StoreLocation
from quant_core.testing import toy_profiles, toy_registry


def test_pool_workers_use_the_drivers_store_not_their_environment(s3_server, bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = tmp_path / "decoy"
    # What a worker would find if it looked at its own environment (it inherits the driver's).
    monkeypatch.setenv("QUANT_STORE", str(decoy / "store"))
    monkeypatch.setenv("QUANT_HOME", str(decoy / "home"))
    store = StoreLocation.parse(f"s3://{bucket}/shared", options=s3_server.options, read_cache=tmp_path / "reads")
    sdk = QuantSDK(home=tmp_path / "driver", registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]), store=store)
    # spawn: fresh workers that see this test's environment (a forkserver started earlier in the
    # session would hand them the environment of that moment, without the S3 credentials).
    result = sdk.run_pipeline(
        "toy.meta", profile="trio", run_id="pooled", executor_options={"workers": 2, "start_method": "spawn"}
    )

    assert result.status == "succeeded"
    assert not decoy.exists()
    listing = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="shared/")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    assert any(k.startswith("shared/artifacts/") for k in keys) and any(k.startswith("shared/cache/") for k in keys)
    # Every record, the sleeves' included, is in the driver's home.
    for sleeve in sdk.expanded(result.context).sleeve_results:
        assert [e.stage_id for e in sdk.record(sleeve.run_id).read_ledger()] == ["toy.seed", "toy.scale", "toy.sum"]
    # A second driver elsewhere is served from the S3 cache.
    again = QuantSDK(
        home=tmp_path / "other", registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]), store=store,
    ).run_pipeline("toy.meta", profile="trio", run_id="again")
    assert again.context.meta_weights == result.context.meta_weights
    assert all(e.cache_hit for e in again.ledger if not e.stage_id.startswith("fan_out."))
