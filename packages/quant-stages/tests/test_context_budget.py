"""Contexts stay within 10 KB at any universe size (ARCHITECTURE, section 2; issue 13): at 2,000
assets every context `portfolio.full` and `meta.full` record (the input, the one after each step,
each sleeve's) is at most `CONTEXT_BUDGET_BYTES`, the large collections being artifacts; and what
a user reads through the one accessor is the whole collection."""

from __future__ import annotations

import json
from pathlib import Path

from quant_core import QuantSDK
from quant_core.context import SpilledCollection
from quant_core.spill import CONTEXT_BUDGET_BYTES

N_ASSETS = 2000
SLEEVE = (
    f'[data]\ndataset = "synthetic"\nparams = {{ seed = 5, n_assets = {N_ASSETS}, n_days = 800 }}\n'
    '[stages."selection.policy"]\nmin_history = 100\nmin_liquidity = 5.0\nmax_volatility = 1.2\n'
    '[stages."allocation.backtest"]\ntrain = 400\ntest = 200\nstep = 200\n'
)
META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "hrp"\nprofile = "wide"\n[sleeves.stages."allocation.optimize"]\nengine = "hrp"\n'
    '[[sleeves]]\nname = "parity"\nprofile = "wide"\n[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
    '[[sleeves]]\nname = "equal"\nprofile = "wide"\n[sleeves.stages."allocation.optimize"]\nengine = "equal_weight"\n'
)


def recorded_sizes(sdk: QuantSDK, run_id: str) -> dict[str, int]:
    record = sdk.record(run_id)
    return {f"{run_id}/{name}": len(json.dumps(data, separators=(",", ":"))) for name, data in record.context_entries()}


def test_every_recorded_context_is_within_budget_at_2000_assets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "wide.toml").write_text(SLEEVE)
    (home / "profiles" / "wide_meta.toml").write_text(META)
    sdk = QuantSDK(home=home)

    meta = sdk.run_pipeline("meta.full", profile="wide_meta", run_id="meta")
    portfolio = sdk.run_pipeline("portfolio.full", profile="wide", run_id="portfolio")
    runs = ["meta", "portfolio", *(r.run_id for r in meta.context.sleeve_results)]
    sizes = {name: size for run_id in runs for name, size in recorded_sizes(sdk, run_id).items()}
    assert len(sizes) == (1 + 1 + 4) + 9 + 3 * 9, sorted(sizes)  # every step of every run
    over = {name: size for name, size in sizes.items() if size > CONTEXT_BUDGET_BYTES}
    assert not over, over

    # The universe was large enough to need it: clusters and vetoes are artifacts, and the one
    # accessor gives them back whole.
    compact = portfolio.context
    assert isinstance(compact.clusters, SpilledCollection) and isinstance(compact.vetoes, SpilledCollection)
    full = sdk.expanded(compact)
    members = sorted(symbol for symbols in full.clusters.values() for symbol in symbols)
    assert len(members) == compact.clusters.summary["members"] and len(full.clusters) == compact.clusters.count
    assert len(full.vetoes) == compact.vetoes.count > 0
    assert not set(full.winners) & set(full.vetoes)
    assert {atom["asset"] for atom in full.strategy_atoms} == set(full.winners)
