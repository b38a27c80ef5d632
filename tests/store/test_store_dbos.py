"""The DBOS executor hands the driver's store to its workflows in their input: a run on DBOS
(SQLite system database) with the store on S3 writes its artifacts and cache there, and a
workflow served by a process whose own setting names another store still uses the run's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from quant_core import ProfileCatalog, QuantSDK
from quant_core.stores import StoreLocation
from quant_core.testing import toy_profiles, toy_registry

quant_flows_dbos = pytest.importorskip("quant_flows_dbos", reason="the DBOS test needs the DBOS backend")


@pytest.fixture(autouse=True)
def dbos_shutdown() -> Iterator[None]:
    yield
    quant_flows_dbos.shutdown()


def test_a_dbos_run_uses_the_store_in_its_workflow_input(s3_server, bucket, tmp_path: Path) -> None:
    store = StoreLocation.parse(f"s3://{bucket}/dbos", options=s3_server.options, read_cache=tmp_path / "reads")
    from quant_flows_dbos.executor import DbosExecutor

    registry = toy_registry()
    registry.register_executor("dbos", DbosExecutor)
    sdk = QuantSDK(home=tmp_path / "home", registry=registry, profiles=ProfileCatalog([toy_profiles()]), store=store)
    options = {"dbos_database_url": f"sqlite:///{tmp_path / 'dbos.sqlite'}"}
    result = sdk.run_pipeline("toy.meta", profile="trio", run_id="durable", executor="dbos", executor_options=options)
    assert result.status == "succeeded" and result.manifest.executor == "dbos"
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="dbos/").get("Contents", [])]
    assert any(k.startswith("dbos/artifacts/") for k in keys) and any(k.startswith("dbos/cache/") for k in keys)
    assert not (tmp_path / "home" / "artifacts").exists() and not (tmp_path / "home" / "cache").exists()

    # A process serving the same home with another store of its own runs the workflow with the
    # store its input names.
    engine = quant_flows_dbos.engine.current_engine()
    elsewhere = dataclasses.replace(engine.runtime, home=dataclasses.replace(engine.runtime.home, store=StoreLocation.parse(tmp_path / "other")))
    serving = quant_flows_dbos.engine.DbosEngine(engine.settings, elsewhere, engine.identity, [])
    assert serving.runtime_for(str(sdk.home.root), False, store.to_json()).home.store == store
