"""A meta run whose sleeve results were kept as an artifact reads as before: `quant pipeline run
--json`, `quant runs show` (text and `--json`) give every sleeve's result whole, as each sleeve's
own record says it, under the run ids the sleeves ran under."""

from __future__ import annotations

import json
from pathlib import Path

from quant_core import QuantSDK
from quant_core.context import MetaContext, SpilledCollection

SLEEVES = (("alpha", "small"), ("beta", "large"), ("gamma", "small"))


def expected_results(sdk: QuantSDK, run_id: str) -> list[dict]:
    """The sleeve results as the fan-out gathers them, rebuilt from each sleeve's own record."""
    rows = []
    for name, profile in SLEEVES:
        sleeve = sdk.record(f"{run_id}.{name}").last_context().model_dump(mode="json")
        rows.append({
            "name": name, "profile": profile, "run_id": f"{run_id}.{name}", "status": "succeeded", "error": None,
            "artifacts": sleeve["artifacts"], "summary": sleeve["backtest"],
        })
    return rows


def test_the_meta_summary_reads_the_same_with_the_sleeve_results_spilled(cli, home: Path) -> None:
    ran = cli("pipeline", "run", "test.meta_report", "--profile", "trio", "--run-id", "m", "--json")
    assert ran.exit_code == 0, ran.output
    sdk = QuantSDK(home=home)
    recorded = sdk.record("m").last_context()
    assert isinstance(recorded, MetaContext) and isinstance(recorded.sleeve_results, SpilledCollection)

    expected = expected_results(sdk, "m")
    document = json.loads(ran.stdout)
    assert document["outputs"]["sleeve_results"] == expected
    assert [(s["name"], s["run_id"], s["status"]) for s in document["sleeves"]] == [
        (name, f"m.{name}", "succeeded") for name, _ in SLEEVES
    ]
    weights = document["outputs"]["meta_weights"]
    rows = [(r["name"], r["profile"], r["run_id"], r["status"], r["weight"], r["own_metrics"]) for r in document["results"]["sleeves"]]
    assert rows == [(e["name"], e["profile"], e["run_id"], "succeeded", weights[e["name"]], e["summary"]) for e in expected]

    shown = cli("runs", "show", "m", "--json")
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["context"]["sleeve_results"] == expected
    assert record["results"] == document["results"]

    text = cli("runs", "show", "m")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    for name, _ in SLEEVES:
        assert f"sleeve run m.{name} (succeeded)" in lines
        # its row in the sleeves table: name and weight
        assert any(line.split()[:2] == [name, f"{100 * weights[name]:.1f}%"] for line in lines if line.strip()), name
