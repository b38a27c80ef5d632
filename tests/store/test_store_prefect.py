"""The Prefect executor hands the driver's store to its tasks inside the run's Runtime: a meta run
as a Prefect flow (a real Prefect server) with the store on S3 writes its artifacts and cache
there, none in the driver's QuantHome, and a second "machine" (another QuantHome on the same
store) is served every stage from that cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from quant_core import ProfileCatalog, QuantSDK
from quant_core.stores import StoreLocation
from quant_core.testing import toy_profiles, toy_registry

pytest.importorskip("quant_flows_prefect", reason="the Prefect store test needs the Prefect backend")


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from quant_flows_prefect.testing import local_prefect_server, talking_to

    with local_prefect_server(tmp_path_factory.mktemp("prefect-home")) as server, talking_to(server):
        yield server.api_url


def _sdk(home: Path, store: StoreLocation) -> QuantSDK:
    from quant_flows_prefect.executor import factory

    registry = toy_registry()
    registry.register_executor("prefect", factory)
    return QuantSDK(home=home, registry=registry, profiles=ProfileCatalog([toy_profiles()]), store=store)


def test_a_prefect_flow_uses_the_drivers_s3_store(prefect_api, s3_server, bucket, tmp_path: Path) -> None:
    store = StoreLocation.parse(f"s3://{bucket}/prefect", options=s3_server.options, read_cache=tmp_path / "reads")
    first = _sdk(tmp_path / "first", store)
    result = first.run_pipeline("toy.meta", profile="trio", run_id="flow", executor="prefect")
    assert result.status == "succeeded" and result.manifest.executor == "prefect"
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="prefect/").get("Contents", [])]
    assert any(k.startswith("prefect/artifacts/") for k in keys) and any(k.startswith("prefect/cache/") for k in keys)
    assert not (tmp_path / "first" / "artifacts").exists() and not (tmp_path / "first" / "cache").exists()

    # Another machine: a fresh QuantHome on the same store, every stage a hit, the same results.
    second = _sdk(tmp_path / "second", store)
    again = second.run_pipeline("toy.meta", profile="trio", run_id="flow", executor="prefect")
    ledgers = [second.record(run_id).read_ledger() for run_id in ("flow", *(r.run_id for r in second.expanded(again.context).sleeve_results))]
    stages = [entry for ledger in ledgers for entry in ledger if not entry.stage_id.startswith("fan_out.")]
    assert stages and all(entry.cache_hit for entry in stages)
    assert again.context.cache_view() == result.context.cache_view()
