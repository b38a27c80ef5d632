"""Contexts stay within 10 KB at any universe size and any number of sleeves (ARCHITECTURE, section
2; issue 13): at 2,000 assets every context `portfolio.full` and `meta.full` record (the input, the
one after each step, each sleeve's), and at many sleeves every context `meta.full` records, is at
most `CONTEXT_BUDGET_BYTES`, the large collections being artifacts; and what a user reads through
the one accessor is the whole collection."""

from __future__ import annotations

import json
from pathlib import Path

from quant_core import QuantSDK
from quant_core.context import MetaContext, SpilledCollection
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


def sdk_with_profiles(tmp_path: Path, **profiles: str) -> QuantSDK:
    """An SDK on a fresh home holding the given profile files (name -> TOML)."""
    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    for name, text in profiles.items():
        (home / "profiles" / f"{name}.toml").write_text(text)
    return QuantSDK(home=home)


def recorded_sizes(sdk: QuantSDK, run_id: str) -> dict[str, int]:
    record = sdk.record(run_id)
    return {f"{run_id}/{name}": len(json.dumps(data, separators=(",", ":"))) for name, data in record.context_entries()}


def test_every_recorded_context_is_within_budget_at_2000_assets(tmp_path: Path) -> None:
    sdk = sdk_with_profiles(tmp_path, wide=SLEEVE, wide_meta=META)

    meta = sdk.run_pipeline("meta.full", profile="wide_meta", run_id="meta")
    portfolio = sdk.run_pipeline("portfolio.full", profile="wide", run_id="portfolio")
    runs = ["meta", "portfolio", *(r.run_id for r in sdk.expanded(meta.context).sleeve_results)]
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


#: Many small sleeves: what grows here is the number of sleeves, not the universe.
N_SLEEVES = 16
TINY_SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 5, n_assets = 12, n_days = 300 }\n'
    '[stages."selection.policy"]\nmin_history = 50\n'
    '[stages."allocation.backtest"]\ntrain = 120\ntest = 60\nstep = 60\n'
)
ENGINES = ("hrp", "risk_parity", "equal_weight")
MANY_META = '[profile]\nkind = "meta"\n' + "".join(
    f'[[sleeves]]\nname = "s{i:02d}"\nprofile = "tiny"\n'
    f'[sleeves.stages."allocation.optimize"]\nengine = "{ENGINES[i % len(ENGINES)]}"\n'
    for i in range(N_SLEEVES)
)


def test_every_recorded_meta_context_is_within_budget_at_many_sleeves_and_a_new_run_is_a_cache_hit(
    tmp_path: Path,
) -> None:
    sdk = sdk_with_profiles(tmp_path, tiny=TINY_SLEEVE, many=MANY_META)

    first = sdk.run_pipeline("meta.full", profile="many", run_id="many")
    sizes = recorded_sizes(sdk, "many")
    assert len(sizes) == 1 + 1 + 4, sorted(sizes)  # the input, the fan-out, the four meta stages
    over = {name: size for name, size in sizes.items() if size > CONTEXT_BUDGET_BYTES}
    assert not over, over

    # The results were spilled, and the same context with them inline (as before they could be)
    # is over the budget: the bound is the spill's doing.
    compact = first.context
    assert isinstance(compact, MetaContext) and isinstance(compact.sleeve_results, SpilledCollection)
    assert isinstance(compact.sleeves, SpilledCollection) and compact.sleeve_results.count == N_SLEEVES
    full = sdk.expanded(compact)
    assert [r.run_id for r in full.sleeve_results] == [f"many.s{i:02d}" for i in range(N_SLEEVES)]
    inline_peer = full.model_copy(update={"audit_trail": compact.audit_trail})  # audit events as recorded
    assert len(inline_peer.model_dump_json()) > CONTEXT_BUDGET_BYTES

    # A second run under another id: every stage after the fan-out is served from the cache (the
    # spilled results hold no run id), and its sleeves' run ids are its own.
    again = sdk.run_pipeline("meta.full", profile="many", run_id="again")
    after_fan_out = [e for e in again.ledger if not e.stage_id.startswith("fan_out.")]
    assert [e.stage_id for e in after_fan_out] == ["meta.returns", "meta.optimize", "meta.flatten", "meta.report"]
    assert all(e.cache_hit for e in after_fan_out), [(e.stage_id, e.cache_hit) for e in after_fan_out]
    assert again.context.sleeve_results == compact.sleeve_results  # the same artifact
    assert [r.run_id for r in sdk.expanded(again.context).sleeve_results] == [f"again.s{i:02d}" for i in range(N_SLEEVES)]
    assert sdk.expanded(again.context).model_dump(exclude={"run_id", "sleeve_results"}) == full.model_dump(
        exclude={"run_id", "sleeve_results"}
    )
