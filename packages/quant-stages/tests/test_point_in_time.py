"""No future data in a past decision (issue 16): the look-ahead property of every pipeline that
produces weights, `portfolio.full` and `meta.full`, on small markets written to files.

Hypothesis draws a market, an asset, a date t and what happens to that asset strictly after t:
its returns change, it stops trading (removed, as a delisting), or it misses random days (gaps).
Every weight decided at or before t (a walk-forward window whose train rows end at or before t,
a meta rebalance decided at or before t) and every return earned up to t must then be bit for
bit the same as on the untouched market, whatever the engine.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from quant_core import QuantSDK
from quant_stages.frames import get_frame

N_DAYS, N_ASSETS, TRAIN, TEST = 300, 8, 100, 40
SMALL_WINDOW_STAGES = {
    "selection.features": {"entropy_order": 3},
    "selection.clustering": {"lookbacks": [60], "distance_threshold": 0.6},
    "selection.policy": {"top_n_per_cluster": 3, "max_stale": 3},
}
KINDS = ("perturb", "remove", "gap")
#: One example runs the pipeline twice; a few examples per engine keep the module near a minute.
EXAMPLES = 4


def market_returns(seed: int, start: str = "2023-01-02") -> pd.DataFrame:
    """A market factor, two sector factors and own noise, small drifts; every day trades."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=N_DAYS, freq="D", tz="UTC", name="date")
    market = rng.standard_t(5, N_DAYS) * 0.012
    sectors = rng.standard_t(5, (N_DAYS, 2)) * 0.01
    columns = {}
    for i in range(N_ASSETS):
        own = rng.standard_t(5, N_DAYS) * rng.uniform(0.008, 0.02)
        columns[f"X:A{i}"] = rng.normal(0.0004, 0.0003) + market + sectors[:, i % 2] + own
    return pd.DataFrame(columns, index=dates)


@dataclass(frozen=True)
class Change:
    """What happens to `symbol` strictly after row `t`."""

    symbol: str
    t: int
    kind: str
    seed: int

    def apply(self, returns: pd.DataFrame) -> pd.DataFrame:
        changed = returns.copy()
        column = changed.columns.get_loc(self.symbol)
        after = np.arange(self.t + 1, len(changed))
        rng = np.random.default_rng(self.seed)
        if self.kind == "perturb":
            values = changed.iloc[after, column].to_numpy()
            changed.iloc[after, column] = np.clip(values * rng.uniform(0.5, 2.0) + rng.normal(0, 0.01, len(after)), -0.5, 0.5)
        elif self.kind == "remove":
            changed.iloc[after, column] = np.nan
        else:
            gaps = rng.choice(after, size=max(1, len(after) // 3), replace=False)
            changed.iloc[gaps, column] = np.nan
        return changed


META_TRAIN = 60


def changes(first_t: int) -> st.SearchStrategy[Change]:
    return st.builds(
        Change,
        symbol=st.sampled_from([f"X:A{i}" for i in range(N_ASSETS)]),
        t=st.integers(first_t, N_DAYS - 2),
        kind=st.sampled_from(KINDS),
        seed=st.integers(0, 2**16),
    )


def write_market(folder: Path, name: str, returns: pd.DataFrame) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    candidates = folder / f"{name}.candidates.json"
    candidates.write_text(json.dumps([
        {"symbol": s, "asset_class": "crypto", "sector": "test", "direction": "long", "value_traded": 5e7}
        for s in returns.columns
    ]))
    path = folder / f"{name}.returns.parquet"
    returns.to_parquet(path)
    return {"candidates_path": str(candidates), "returns_path": str(path)}


def portfolio_params(files: dict[str, str], engine: str) -> dict:
    return {
        "selection.ingestion": files, **SMALL_WINDOW_STAGES,
        "allocation.optimize": {"engine": engine, "max_weight": 0.6},
        "allocation.backtest": {"train": TRAIN, "test": TEST, "cost_bps": 10.0},
    }


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> QuantSDK:
    return QuantSDK(home=tmp_path_factory.mktemp("point-in-time-home"))


def frame(sdk: QuantSDK, ref) -> pd.DataFrame:
    return get_frame(sdk.home.artifact_store(), ref)


def decided_by(weights: pd.DataFrame, calendar: pd.DatetimeIndex, t: pd.Timestamp) -> pd.DataFrame:
    """Rows of a weights history (indexed by the first date they are held) whose decision, at the
    close of the date before on `calendar`, was taken at or before `t`."""
    decision = calendar[calendar.get_indexer(weights.index) - 1]
    return weights[decision <= t]


def assert_same_up_to(before: pd.DataFrame, after: pd.DataFrame, t: pd.Timestamp, what: str) -> None:
    pd.testing.assert_frame_equal(before[before.index <= t], after[after.index <= t], check_exact=True, obj=what)


@pytest.mark.parametrize("engine", ["hrp", "min_variance", "risk_parity", "max_sharpe"])
@settings(max_examples=EXAMPLES, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 3), change=changes(TRAIN))
def test_portfolio_decisions_up_to_t_ignore_every_change_after_t(sdk, engine, seed, change):
    returns = market_returns(seed)
    t = returns.index[change.t]
    with tempfile.TemporaryDirectory() as folder:
        runs = [
            sdk.run_pipeline("portfolio.full", params=portfolio_params(write_market(Path(folder), name, data), engine)).context
            for name, data in (("original", returns), ("changed", change.apply(returns)))
        ]
    weights = [frame(sdk, c.artifacts["backtest_weights"]) for c in runs]
    decided = [decided_by(w, returns.index, t) for w in weights]
    assert len(decided[0]) >= 1
    pd.testing.assert_frame_equal(decided[0], decided[1], check_exact=True, obj="weights decided up to t")
    stitched = [frame(sdk, c.artifacts["backtest_returns"]) for c in runs]
    assert_same_up_to(stitched[0], stitched[1], t, "returns up to t")
    universes = [frame(sdk, c.artifacts["backtest_universe"]) for c in runs]
    kept = [u[pd.to_datetime(u["train_end"]) <= t].reset_index(drop=True) for u in universes]
    pd.testing.assert_frame_equal(kept[0], kept[1], check_exact=True, obj="universe decided up to t")


def meta_profile(folder: Path, files: dict[str, dict[str, str]]) -> str:
    """A meta profile of two sleeves on two markets (each a portfolio profile file)."""
    sleeves = []
    for name, engine in (("first", "hrp"), ("second", "risk_parity")):
        stages = portfolio_params({}, engine)
        del stages["selection.ingestion"]
        tables = "\n".join(
            f'[stages."{stage}"]\n' + "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
            for stage, values in stages.items()
        )
        data = files[name]
        (folder / f"{name}.toml").write_text(
            f'[data]\ncandidates_path = "{data["candidates_path"]}"\nreturns_path = "{data["returns_path"]}"\n\n{tables}\n'
        )
        sleeves.append(f'[[sleeves]]\nname = "{name}"\nprofile = "{folder / name}.toml"\nmin_weight = 0.2\nmax_weight = 0.8\n')
    meta = folder / "meta.toml"
    meta.write_text(
        '[profile]\nkind = "meta"\n\n' + "\n".join(sleeves)
        + f'\n[stages."meta.optimize"]\nengine = "min_variance"\ntrain = {META_TRAIN}\nrebalance = 15\ncost_bps = 10.0\n'
    )
    return str(meta)


@settings(max_examples=EXAMPLES, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
# the meta-portfolio decides first after the sleeves' first train window and its own
@given(change=changes(TRAIN + META_TRAIN), which=st.sampled_from(["first", "second"]))
def test_meta_decisions_up_to_t_ignore_every_change_after_t(sdk, change, which):
    markets = {"first": market_returns(1), "second": market_returns(2)}
    t = markets[which].index[change.t]
    contexts = []
    with tempfile.TemporaryDirectory() as scratch:
        for variant in ("original", "changed"):
            folder = Path(scratch) / variant
            data = {name: change.apply(r) if (variant == "changed" and name == which) else r for name, r in markets.items()}
            files = {name: write_market(folder, name, r) for name, r in data.items()}
            contexts.append(sdk.expanded(sdk.run_pipeline("meta.full", profile=meta_profile(folder, files)).context))
    for name in markets:
        sleeve_weights = [
            frame(sdk, next(r for r in c.sleeve_results if r.name == name).artifacts["backtest_weights"]) for c in contexts
        ]
        decided = [decided_by(w, markets[name].index, t) for w in sleeve_weights]
        pd.testing.assert_frame_equal(decided[0], decided[1], check_exact=True, obj=f"sleeve {name} weights")
    calendar = frame(sdk, contexts[0].meta_returns).index
    history = [frame(sdk, c.artifacts["meta_weight_history"]) for c in contexts]
    decided = [decided_by(h, calendar, t) for h in history]
    assert len(decided[0]) >= 1
    pd.testing.assert_frame_equal(decided[0], decided[1], check_exact=True, obj="meta weights decided up to t")
    aligned = [frame(sdk, c.meta_returns) for c in contexts]
    assert_same_up_to(aligned[0], aligned[1], t, "sleeve returns up to t")
    meta = [frame(sdk, c.artifacts["meta_portfolio_returns"]) for c in contexts]
    assert_same_up_to(meta[0], meta[1], t, "meta-portfolio returns up to t")
