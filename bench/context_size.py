"""Size of the context recorded after each stage of `portfolio.full`, at N = 500, 1000 and 2000
assets, and after each step of `meta.full` at S = 3, 10 and 20 sleeves: the context is what every
engine checkpoints and ships per step, and must stay within 10 KB whatever N and S (large
collections ride as artifacts, `quant_core.spill`).

    uv run python bench/context_size.py                 # N = 500, 1000, 2000; S = 3, 10, 20
    uv run python bench/context_size.py --assets 300 3000 --sleeves 30

Each N and S runs in a fresh QuantHome under the temp dir on the synthetic market (800 days; the
sleeves on 12 assets, 300 days: what grows there is the number of sleeves). Printed: bytes of each
recorded context (compact JSON, as in contexts.jsonl) per step, and, for the peer, what the
largest context would weigh with every collection inline (`QuantSDK.expanded`), i.e. before they
could be artifacts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from quant_core import QuantSDK
from quant_core.context import context_from_data
from quant_core.spill import CONTEXT_BUDGET_BYTES

PROFILE = """
[data]
dataset = "synthetic"
params = {{ seed = 5, n_assets = {n}, n_days = 800 }}
[stages."selection.policy"]
min_history = 100
min_liquidity = 5.0
max_volatility = 1.2
[stages."allocation.backtest"]
train = 400
test = 200
"""


SLEEVE_PROFILE = """
[data]
dataset = "synthetic"
params = { seed = 5, n_assets = 12, n_days = 300 }
[stages."selection.policy"]
min_history = 50
[stages."allocation.backtest"]
train = 120
test = 60
step = 60
"""
ENGINES = ("hrp", "risk_parity", "equal_weight")


def meta_profile(n_sleeves: int) -> str:
    return '[profile]\nkind = "meta"\n' + "".join(
        f'[[sleeves]]\nname = "s{i:02d}"\nprofile = "tiny"\n'
        f'[sleeves.stages."allocation.optimize"]\nengine = "{ENGINES[i % len(ENGINES)]}"\n'
        for i in range(n_sleeves)
    )


def measure(n_assets: int, scratch: Path) -> tuple[dict[str, int], int]:
    home = scratch / f"n{n_assets}"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "wide.toml").write_text(PROFILE.format(n=n_assets))
    return _recorded(QuantSDK(home=home), "portfolio.full", "wide", f"n{n_assets}")


def measure_sleeves(n_sleeves: int, scratch: Path) -> tuple[dict[str, int], int]:
    home = scratch / f"s{n_sleeves}"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "tiny.toml").write_text(SLEEVE_PROFILE)
    (home / "profiles" / "many.toml").write_text(meta_profile(n_sleeves))
    return _recorded(QuantSDK(home=home), "meta.full", "many", f"s{n_sleeves}")


def _recorded(sdk: QuantSDK, pipeline: str, profile: str, run_id: str) -> tuple[dict[str, int], int]:
    """Bytes of every context the run recorded, and of the largest with its collections inline."""
    sdk.run_pipeline(pipeline, profile=profile, run_id=run_id)
    entries = list(sdk.record(run_id).context_entries())
    sizes = {name: _size(data) for name, data in entries}
    inline = max(
        _size(sdk.expanded(context_from_data(data)).model_dump(mode="json") | {"audit_trail": data["audit_trail"]})
        for _, data in entries
    )
    return sizes, inline


def _size(data: dict) -> int:
    return len(json.dumps(data, separators=(",", ":")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--sleeves", type=int, nargs="+", default=[3, 10, 20])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quant-ctx-") as scratch:
        by_assets = {f"N={n}": measure(n, Path(scratch)) for n in args.assets}
        by_sleeves = {f"S={n}": measure_sleeves(n, Path(scratch)) for n in args.sleeves}
    table("portfolio.full", by_assets)
    table("meta.full", by_sleeves)
    worst = max(max(sizes.values()) for sizes, _ in [*by_assets.values(), *by_sleeves.values()])
    print(f"\nlargest recorded context: {worst} bytes (budget {CONTEXT_BUDGET_BYTES})")


def table(title: str, results: dict[str, tuple[dict[str, int], int]]) -> None:
    print(f"\n{title}")
    steps = list(next(iter(results.values()))[0])
    header = ["step", *results]
    print(" | ".join(header))
    print("|".join("---" for _ in header))
    for step in steps:
        print(" | ".join([step, *(str(sizes.get(step, "-")) for sizes, _ in results.values())]))
    print(" | ".join(["largest", *(str(max(sizes.values())) for sizes, _ in results.values())]))
    print(" | ".join(["largest, every collection inline (peer)", *(str(inline) for _, inline in results.values())]))


if __name__ == "__main__":
    main()
