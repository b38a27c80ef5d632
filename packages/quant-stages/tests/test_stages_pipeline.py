"""selection.full on the embedded synthetic market (found through the `quant.datasets` entry
points) with the built-in demo profiles: every planted bad asset is vetoed for its flaw."""

from __future__ import annotations

import pytest
from quant_stages.datasets import DatasetCatalog

#: planted role -> the veto reason the policy must give it (as of the last date: a delisted
#: asset has stopped trading by then)
ROLE_REASONS = {"illiquid": "liquidity", "erratic": "kurtosis", "short_history": "history", "delisted": "stale"}


@pytest.fixture(scope="module")
def catalog() -> DatasetCatalog:
    return DatasetCatalog.from_entry_points()


@pytest.mark.parametrize("profile", ["demo_equities", "demo_crypto", "demo_mixed"])
def test_selection_full_vetoes_every_planted_bad_asset_with_its_reason(sdk, catalog, profile):
    resolved = sdk.resolve_profile(profile)
    data = resolved.stage_params["selection.ingestion"]
    assert data["dataset"] == "synthetic"
    market = catalog.get("synthetic").load(data["dataset_params"])
    roles = {c.symbol: c.model_extra["synthetic_role"] for c in market.candidates}

    # clusters and vetoes of 120+ assets are kept as artifacts: read them back inline
    context = sdk.expanded(sdk.run_pipeline("selection.full", profile=profile).context)

    pool = sdk.home.artifact_store().get_json(context.raw_pool)
    assert {c["symbol"]: c["synthetic_role"] for c in pool} == roles  # nothing dropped at ingestion
    planted = {symbol: ROLE_REASONS[role] for symbol, role in roles.items() if role in ROLE_REASONS}
    assert set(planted.values()) == set(ROLE_REASONS.values())  # the market holds every kind of flaw
    for symbol, reason in sorted(planted.items()):
        assert reason in context.vetoes.get(symbol, []), (symbol, roles[symbol], context.vetoes.get(symbol))
    assert context.winners
    assert not set(context.winners) & set(context.vetoes)
    assert {atom["asset"] for atom in context.strategy_atoms} == set(context.winners)
    assert sorted(m for members in context.clusters.values() for m in members) == sorted(roles)


def test_the_demo_shows_figures_a_practitioner_finds_plausible(sdk):
    """Issue 16, point 6: on the calibrated market the demo's out-of-sample figures are those of
    real portfolios: sleeve and meta-portfolio Sharpe ratios between 0 and 1.5, no triple-digit
    growth rates, and the delisting rule at work."""
    context = sdk.expanded(sdk.run_pipeline("meta.full", profile="demo").context)  # the report inline
    report = context.report
    for sleeve in report["sleeves"]:
        assert 0.0 <= sleeve["metrics"]["sharpe"] <= 1.5, sleeve
        assert sleeve["metrics"]["cagr"] < 1.0, sleeve
    assert 0.0 <= report["metrics"]["sharpe"] <= 1.5
    assert -0.5 < report["metrics"]["max_drawdown"] < -0.02
    # the equities sleeve held an asset that was delisted: it took the delisting loss
    assert {r.name: r.summary["delistings"] for r in context.sleeve_results} == {"crypto": 0, "equities": 1, "mixed": 0}
