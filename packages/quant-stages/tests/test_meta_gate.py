"""The strict success gate of `meta.full` with the real stages: a user meta profile in
`$QUANT_HOME/profiles/` whose sleeves point at data that breaks a data rule stops the run before
any meta stage, naming every failed sleeve and its error, and leaves a record that shows which
sleeves succeeded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from quant_core.errors import SleeveFailureError

META_STAGES = ("meta.returns", "meta.optimize", "meta.flatten", "meta.report")


def toml_string(value: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(value)


def small_synthetic_profile(seed: int) -> str:
    return f"""
[profile]
description = "a small crypto sleeve on the synthetic market"

[data]
dataset = "synthetic"
params = {{ seed = {seed}, n_assets = 20, n_days = 500, asset_classes = ["crypto"] }}

[stages."allocation.optimize"]
engine = "risk_parity"
max_weight = 0.5

[stages."allocation.backtest"]
train = 200
test = 60
"""


def file_profile(candidates: Path, returns: Path) -> str:
    return f"""
[data]
candidates_path = {toml_string(str(candidates))}
returns_path = {toml_string(str(returns))}
"""


def write_broken_market(folder: Path) -> tuple[Path, Path]:
    """Four assets; X:S2 loses 150% on 2023-02-11, which no simple return can."""
    dates = pd.date_range("2023-01-02", periods=300, freq="D", tz="UTC", name="date")
    rng = np.random.default_rng(1)
    returns = pd.DataFrame({f"X:S{i}": rng.normal(0.0, 0.01, len(dates)) for i in range(4)}, index=dates)
    returns.iloc[40, 2] = -1.5
    returns_path, candidates_path = folder / "broken.returns.csv", folder / "broken.candidates.json"
    returns.to_csv(returns_path, index_label="date", float_format="%.17g")
    candidates = [{"symbol": s, "asset_class": "crypto", "sector": "t", "direction": "long", "value_traded": 5e7} for s in returns.columns]
    candidates_path.write_text(json.dumps(candidates), encoding="utf-8")
    return candidates_path, returns_path


@pytest.fixture
def profiles(sdk, tmp_path) -> Path:
    """User profiles: `good` (synthetic), `broken` (a return below -1), `missing` (no such file)."""
    folder = sdk.home.profiles_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.toml").write_text(small_synthetic_profile(seed=3), encoding="utf-8")
    candidates, returns = write_broken_market(tmp_path)
    (folder / "broken.toml").write_text(file_profile(candidates, returns), encoding="utf-8")
    (folder / "missing.toml").write_text(file_profile(candidates, tmp_path / "nowhere.csv"), encoding="utf-8")
    return folder


def write_meta_profile(folder: Path, name: str, sleeves: list[tuple[str, str]]) -> None:
    entries = "".join(f'\n[[sleeves]]\nname = "{sleeve}"\nprofile = "{profile}"\n' for sleeve, profile in sleeves)
    (folder / f"{name}.toml").write_text(f'[profile]\nkind = "meta"\n{entries}', encoding="utf-8")


def test_one_sleeve_breaking_a_data_rule_stops_the_meta_run_before_any_meta_stage(sdk, profiles, tmp_path):
    write_meta_profile(profiles, "trio", [("alpha", "good"), ("bravo", "broken"), ("charlie", "good")])
    with pytest.raises(SleeveFailureError) as failure:
        sdk.run_pipeline("meta.full", profile="trio", run_id="trio-run")

    error = failure.value
    assert error.run_id == "trio-run"
    assert list(error.failures) == ["bravo"]
    message = error.failures["bravo"]
    assert "selection.ingestion" in message and "trio-run.bravo" in message
    assert str(tmp_path / "broken.returns.csv") in message and "column 'X:S2'" in message
    assert "return -1.5 on 2023-02-11 is below -1" in message
    assert str(error).startswith("1 sleeve(s) failed in run 'trio-run': bravo: ")

    record = sdk.record("trio-run")
    assert record.read_manifest().status == "failed"
    ledger = record.read_ledger()
    assert [(e.stage_id, e.status) for e in ledger] == [("fan_out.portfolio.full", "failed")]
    assert ledger[0].error == "failed sleeves: bravo"
    assert not any(e.stage_id in META_STAGES for e in ledger)

    last = sdk.expanded(sdk.last_context("trio-run"))
    outcome = {r.name: r.status for r in last.sleeve_results}
    assert outcome == {"alpha": "succeeded", "bravo": "failed", "charlie": "succeeded"}
    by_name = {r.name: r for r in last.sleeve_results}
    assert by_name["bravo"].error == message and by_name["bravo"].artifacts == {}
    for name in ("alpha", "charlie"):
        result = by_name[name]
        assert result.run_id == f"trio-run.{name}" and result.error is None
        assert set(result.artifacts) == {"backtest_returns", "backtest_weights", "weights"}
        assert result.summary["windows"] >= 1
    # the failed sleeve's own run says where it stopped
    sleeve_ledger = sdk.record("trio-run.bravo").read_ledger()
    assert [(e.stage_id, e.status) for e in sleeve_ledger] == [("selection.ingestion", "failed")]


def test_two_failing_sleeves_are_both_named(sdk, profiles, tmp_path):
    write_meta_profile(profiles, "two_bad", [("alpha", "good"), ("bravo", "broken"), ("delta", "missing")])
    with pytest.raises(SleeveFailureError) as failure:
        sdk.run_pipeline("meta.full", profile="two_bad", run_id="two-bad-run")

    error = failure.value
    assert sorted(error.failures) == ["bravo", "delta"]
    assert "is below -1" in error.failures["bravo"]
    assert str(tmp_path / "nowhere.csv") in error.failures["delta"] and "file not found" in error.failures["delta"]
    assert str(error).startswith("2 sleeve(s) failed in run 'two-bad-run': bravo: ")
    assert "; delta: " in str(error)

    ledger = sdk.record("two-bad-run").read_ledger()
    assert [(e.stage_id, e.status, e.error) for e in ledger] == [
        ("fan_out.portfolio.full", "failed", "failed sleeves: bravo, delta"),
    ]
    last = sdk.expanded(sdk.last_context("two-bad-run"))
    assert {r.name: r.status for r in last.sleeve_results} == {"alpha": "succeeded", "bravo": "failed", "delta": "failed"}
