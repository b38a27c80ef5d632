"""/metrics served by a process: a selection of the recorded runs (a sleeve with its parent), over
real HTTP, and a port that cannot be bound refused with the flag that chose it."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="needs quant-core[prometheus]")

from quant_core import ProfileCatalog, QuantSDK, SleeveFailureError  # noqa: E402
from quant_core.config import QuantConfig  # noqa: E402
from quant_core.errors import ParamValidationError  # noqa: E402
from quant_core.metrics import RecordCollector, record_registry, serve  # noqa: E402
from quant_core.testing import scrape_metrics, toy_profiles, toy_registry  # noqa: E402


def test_a_selection_counts_the_chosen_runs_and_their_sleeves(tmp_path: Path) -> None:
    sdk = QuantSDK(home=tmp_path / "home", registry=toy_registry(), profiles=ProfileCatalog([toy_profiles(("beta",))]),
                   config=QuantConfig.defaults())
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="other")
    with pytest.raises(SleeveFailureError):
        sdk.run_pipeline("toy.meta", profile="trio", run_id="chosen")
    endpoint = serve(record_registry(sdk.home.runs_dir, lambda manifest: manifest.run_id == "chosen"), 0)
    try:
        scraped = scrape_metrics(endpoint.url)
    finally:
        endpoint.shutdown()
    runs = {(labels["status"]): value for name, labels, value in scraped if name == "quant_runs_total"}
    assert runs == {"succeeded": 2.0, "failed": 2.0}  # alpha and gamma; beta and the meta run
    seeds = [value for name, labels, value in scraped
             if name == "quant_stage_executions_total" and labels["stage_id"] == "toy.seed"]
    assert seeds == [3.0]  # one per sleeve; the run "other" is not counted
    assert [value for name, _, value in scraped if name == "quant_sleeves_failed_total"] == [1.0]


def test_a_busy_port_is_refused_naming_the_flag(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ParamValidationError, match=f"cannot serve /metrics on 127.0.0.1:{port}: .*--metrics-port PORT") as raised:
            serve(record_registry(tmp_path), port, option="--metrics-port")
    assert (raised.value.param, raised.value.value) == ("--metrics-port", port)


def stage_count(scraped, run_stage: str = "toy.seed") -> float:
    return sum(value for name, labels, value in scraped
               if name == "quant_stage_executions_total" and labels["stage_id"] == run_stage)


def test_a_damaged_record_is_counted_as_damage_and_the_other_runs_still_scrape(tmp_path: Path) -> None:
    """One unreadable manifest or ledger line must not take /metrics down for every other run."""
    sdk = QuantSDK(home=tmp_path / "home", registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]),
                   config=QuantConfig.defaults())
    for run_id in ("broken-manifest", "broken-line", "torn-line", "sound"):
        sdk.run_pipeline("toy.portfolio", profile="small", run_id=run_id, force=True)
    runs_dir = sdk.home.runs_dir
    (runs_dir / "broken-manifest" / "manifest.json").write_text("{not json")
    ledger = runs_dir / "broken-line" / "ledger.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    assert len(lines) >= 2 and '"toy.seed"' in lines[0]
    ledger.write_text("".join(["{garbage}\n", *lines[1:]]))  # the first of its lines, not a torn tail
    torn = runs_dir / "torn-line" / "ledger.jsonl"
    torn.write_text(torn.read_text() + '{"stage_id": "toy.se')  # a crash mid-write: tolerated
    (runs_dir / "notes").mkdir()  # a folder quant did not make (its name is not a run id)

    endpoint = serve(record_registry(runs_dir), 0)
    try:
        scraped = scrape_metrics(endpoint.url)
    finally:
        endpoint.shutdown()
    damaged = {labels["part"]: value for name, labels, value in scraped if name == "quant_damaged_records"}
    assert damaged == {"manifest": 1.0, "ledger_line": 1.0}
    runs = sum(value for name, _, value in scraped if name == "quant_runs_total")
    assert runs == 3.0  # every run but the one whose manifest is unreadable
    # the sound and torn runs count their seed; the damaged line was broken-line's seed
    assert stage_count(scraped) == 2.0
    assert stage_count(scraped, "toy.scale") == 3.0


def test_a_run_removed_between_scrapes_is_no_damage(tmp_path: Path) -> None:
    """`quant store gc` removing a run while the endpoint serves: it drops out, nothing is damaged."""
    sdk = QuantSDK(home=tmp_path / "home", registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]),
                   config=QuantConfig.defaults())
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="kept")
    sdk.run_pipeline("toy.portfolio", profile="small", run_id="removed")
    collector = RecordCollector(sdk.home.runs_dir)

    def figures() -> dict[str, list[float]]:
        return {family.name: [sample.value for sample in family.samples] for family in collector.collect()}

    assert figures()["quant_runs"][0] == 2.0
    shutil.rmtree(sdk.home.runs_dir / "removed")
    after = figures()
    assert after["quant_runs"][0] == 1.0 and after["quant_damaged_records"] == [0.0, 0.0]
