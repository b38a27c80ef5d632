"""Size of the context recorded after each stage of `portfolio.full`, at N = 500, 1000 and 2000
assets: the context is what every engine checkpoints and ships per step, and must stay within
10 KB whatever N (large collections ride as artifacts, `quant_core.spill`).

    uv run python bench/context_size.py                 # N = 500, 1000, 2000
    uv run python bench/context_size.py --assets 300 3000

Each N runs in a fresh QuantHome under the temp dir on the synthetic market (800 days). Printed:
bytes of each recorded context (compact JSON, as in contexts.jsonl) per step and N, and, for the
peer, what the last context would weigh with every collection inline (`QuantSDK.expanded`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from quant_core import QuantSDK
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


def measure(n_assets: int, scratch: Path) -> tuple[dict[str, int], int]:
    home = scratch / f"n{n_assets}"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "wide.toml").write_text(PROFILE.format(n=n_assets))
    sdk = QuantSDK(home=home)
    result = sdk.run_pipeline("portfolio.full", profile="wide", run_id=f"n{n_assets}")
    sizes = {name: _size(data) for name, data in sdk.record(result.run_id).context_entries()}
    inline = _size(sdk.expanded(result.context).model_dump(mode="json"))
    return sizes, inline


def _size(data: dict) -> int:
    return len(json.dumps(data, separators=(",", ":")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, nargs="+", default=[500, 1000, 2000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quant-ctx-") as scratch:
        results = {n: measure(n, Path(scratch)) for n in args.assets}
    steps = list(next(iter(results.values()))[0])
    header = ["step", *(f"N={n}" for n in args.assets)]
    print(" | ".join(header))
    print("|".join("---" for _ in header))
    for step in steps:
        print(" | ".join([step, *(str(results[n][0].get(step, "-")) for n in args.assets)]))
    print(" | ".join(["largest", *(str(max(results[n][0].values())) for n in args.assets)]))
    print(" | ".join(["last, all inline (peer)", *(str(results[n][1]) for n in args.assets)]))
    worst = max(max(sizes.values()) for sizes, _ in results.values())
    print(f"\nlargest recorded context: {worst} bytes (budget {CONTEXT_BUDGET_BYTES})")


if __name__ == "__main__":
    main()
