"""`quant demo`: progress, summary, the exported HTML report, and a second run from the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TOY_DEMO = ("demo", "--pipeline", "toy.meta", "--profile", "trio")
REPORT_DEMO = ("demo", "--pipeline", "test.meta_report", "--profile", "trio")


def test_demo_defaults_to_meta_full_with_the_demo_profile(cli) -> None:
    result = cli("demo", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["message"].startswith("unknown pipeline 'meta.full'")


def test_toy_demo_ends_with_the_sleeves_and_their_weights(cli) -> None:
    result = cli(*TOY_DEMO)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "✓ pipeline toy.meta succeeded" in out
    assert "report: none (the pipeline made no HTML report)" in out
    results = out.split("sleeves and meta-portfolio", 1)[1]  # the last thing on screen
    rows = {line.split()[0]: line.split()[1:] for line in results.splitlines() if line.split()[:1] in (["alpha"], ["beta"], ["gamma"])}
    assert rows["beta"][0] == "53.8%"  # 14 / 26
    assert rows["alpha"][0] == rows["gamma"][0] == "23.1%"  # 6 / 26
    assert rows["beta"][1] == "14"  # without a report, each sleeve's own figures (toy.sum's total)
    assert "↺ gamma › toy.sum" in result.stderr  # progress, on stderr


def test_second_demo_is_served_from_the_cache(cli) -> None:
    first = json.loads(cli(*TOY_DEMO, "--json").stdout)
    assert (first["stage_count"], first["cache_hits"]) == (10, 3)  # gamma reuses alpha's entries

    second = cli(*TOY_DEMO)
    assert second.exit_code == 0
    assert "served from the cache: all 10 stage(s) were cache hits, nothing was recomputed" in second.stdout
    assert second.stderr.count("↺") == 10  # every stage line shows "cached"

    third = json.loads(cli(*TOY_DEMO, "--json").stdout)
    assert (third["stage_count"], third["cache_hits"]) == (10, 10)
    assert third["run_id"] != first["run_id"]
    assert third["outputs"]["meta_weights"] == first["outputs"]["meta_weights"]


def test_demo_exports_the_html_report_and_ends_with_its_tables(cli, home: Path, report_html: bytes) -> None:
    result = cli(*REPORT_DEMO, "--run-id", "demo-1")
    assert result.exit_code == 0, result.output
    report_path = home / "runs" / "demo-1" / "report.html"
    assert report_path.read_bytes() == report_html
    out = result.stdout
    assert f"report: {report_path}" in out
    results = out.split("sleeves and meta-portfolio", 1)[1]
    meta_row = next(line for line in results.splitlines() if line.startswith("meta-portfolio"))
    assert meta_row.split()[1:] == ["100.0%", "1.25", "-10.0%", "—"]  # weights sum, sharpe, max dd, (no total)
    beta_row = next(line for line in results.splitlines() if line.startswith("beta"))
    assert beta_row.split()[-1] == "53.8462"  # the report's per-sleeve figure: 100 * 14/26
    assert "top assets (1 of 1 listed)" in results and "BINANCE:BTCUSDT" in results and "12.5%" in results


def test_demo_json_holds_the_run_and_the_report_path(cli, home: Path, report_html: bytes) -> None:
    result = cli(*REPORT_DEMO, "--run-id", "demo-2", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert document["report_path"] == str(home / "runs" / "demo-2" / "report.html")
    assert Path(document["report_path"]).read_bytes() == report_html
    assert [s["id"] for s in document["stages"]] == ["fan_out.toy.portfolio", "toy.meta_total", "test.report"]
    assert [s["name"] for s in document["sleeves"]] == ["alpha", "beta", "gamma"]
    report = document["outputs"]["report"]
    assert report["metrics"] == {"sharpe": 1.25, "max_drawdown": -0.1}
    assert [s["name"] for s in report["sleeves"]] == ["alpha", "beta", "gamma"]


def test_second_report_demo_is_cached_and_exports_the_report_again(cli, home: Path, report_html: bytes) -> None:
    cli(*REPORT_DEMO, "--json")
    second = json.loads(cli(*REPORT_DEMO, "--run-id", "again", "--json").stdout)
    assert second["cache_hits"] == second["stage_count"] == 11
    assert (home / "runs" / "again" / "report.html").read_bytes() == report_html


def test_demo_with_a_failing_sleeve_is_exit_5(cli) -> None:
    result = cli(*TOY_DEMO, failing_sleeves=("beta",))
    assert result.exit_code == 5
    assert result.stderr.strip().splitlines()[-1].startswith("error: 1 sleeve(s) failed in run ")
    assert result.stdout == ""


@pytest.mark.parametrize("value", ["0", "-1"])
def test_demo_workers_must_be_positive(cli, value: str) -> None:
    result = cli(*TOY_DEMO, "--workers", value)
    assert result.exit_code == 2
