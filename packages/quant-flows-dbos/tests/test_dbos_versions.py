"""quant is upgraded between a crash and the resume: DBOS recovers a workflow only under the
application version that started it, and quant's version is its own distributions' versions. The
new version says so, naming both; asked to, it continues the run from where it stopped: nothing
that finished runs again."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbos import DBOS
from quant_core.records import installed_versions
from quant_flows_dbos import VersionMismatchError
from quant_flows_dbos.continuation import workflow_status

RUN = "upgraded"
OLD = {**installed_versions(), "quant-core": "0.0.9"}
NEW = {**installed_versions(), "quant-core": "0.1.0"}
SLEEVES = ["alpha", "beta", "gamma"]


def crash_under_the_old_version(kit, home: Path, database_url: str, tmp_path: Path) -> Path:
    """A child on the old version runs toy.meta and dies inside beta's toy.scale."""
    log = tmp_path / "executions.log"
    kit.run_child(
        {
            "action": "run", "home": str(home), "database_url": database_url, "registry": "toy",
            "pipeline": "toy.meta", "profile": "trio", "run_id": RUN, "versions": OLD,
            "kill": {"stage": "toy.scale", "run_id": f"{RUN}.beta"}, "marker": str(tmp_path / "killed"), "log": str(log),
        },
        expect_killed=True,
    )
    return log


def test_a_run_pending_under_another_version_is_named_then_continued(kit, database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = crash_under_the_old_version(kit, home, database_url, tmp_path)
    sdk = kit.toy_sdk(home, versions=NEW)
    options = {"dbos_database_url": database_url}

    with pytest.raises(VersionMismatchError) as refused:
        sdk.resume(RUN, executor_options=options)
    message = str(refused.value)
    assert refused.value.exit_code == 2
    assert "quant-core 0.0.9 -> 0.1.0" in message and "--accept-version-change" in message
    assert refused.value.pending_version != refused.value.current_version
    # Launching the new version recovered nothing of the old one's: the run is still pending.
    assert workflow_status(DBOS, RUN).status == "PENDING"

    result = sdk.resume(RUN, executor_options={**options, "accept_version_change": True})
    assert result.status == "succeeded" and set(result.context.meta_weights) == set(SLEEVES)
    runs = [RUN, *(f"{RUN}.{s}" for s in SLEEVES)]
    counts = kit.ledger_counts(sdk, runs)
    assert len(counts) == 2 + 3 * 3 and all(statuses == ["succeeded"] for statuses in counts.values())
    # The old version ran alpha and died in beta's toy.scale; the new one ran that stage again,
    # and what came after it, and nothing before.
    child = kit.executions(log)[0][2]
    assert kit.executions(log) == [(f"{RUN}.alpha", "toy.scale", child), (f"{RUN}.beta", "toy.scale", child)]
    ran_in = kit.workers(sdk, runs)
    assert {ran_in[(f"{RUN}.alpha", s)] for s in ("toy.seed", "toy.scale", "toy.sum")} == {child}
    assert ran_in[(f"{RUN}.beta", "toy.seed")] == child
    assert ran_in[(f"{RUN}.beta", "toy.scale")] not in (None, child)
    status = workflow_status(DBOS, RUN)
    assert (status.status, status.app_version) == ("SUCCESS", refused.value.current_version)
    assert sdk.record(RUN).read_manifest().versions["quant-core"] == "0.1.0"
