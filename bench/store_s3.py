"""`portfolio.full` cold and cached with the store on local disk and on a loopback S3 server
(moto's standalone server, started here on 127.0.0.1), in one run.

    uv run python bench/store_s3.py                     # demo_equities (120 assets), 3 repetitions
    uv run python bench/store_s3.py --profile tiny --repeat 5

Per store, each repetition uses a fresh store (a new folder, a new bucket):
- cold: a fresh QuantHome runs the pipeline; every stage executes and publishes its artifacts and
  cache entry;
- cached, new machine: another fresh QuantHome with an empty read-through cache: every stage is a
  cache hit; on S3 the entries and the artifacts they name come over the network;
- cached, warm: the same again from a third QuantHome sharing the second one's read-through cache
  (artifacts read locally; cache entries and existence checks still go to the store).
Wall-clock medians over the repetitions, with the ratio S3 / local.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from quant_core import QuantSDK
from quant_core.stores import StoreLocation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "store"))
from storekit import CREDENTIALS, SLEEVE_PROFILE, start_s3_server  # noqa: E402

PROFILES = {"demo_equities": None, "tiny": SLEEVE_PROFILE}


def run(home: Path, location: StoreLocation, profile: str, run_id: str) -> tuple[float, int, int]:
    if PROFILES[profile] is not None:
        (home / "profiles").mkdir(parents=True, exist_ok=True)
        (home / "profiles" / f"{profile}.toml").write_text(PROFILES[profile])
    sdk = QuantSDK(home=home, store=location)
    started = time.perf_counter()
    result = sdk.run_pipeline("portfolio.full", profile=profile, run_id=run_id)
    return time.perf_counter() - started, result.cache_hits, len(result.ledger)


def repetition(scratch: Path, location: StoreLocation, profile: str) -> dict[str, float]:
    times = {}
    times["cold"], hits, _ = run(scratch / "a", location, profile, "cold")
    assert hits == 0, hits
    new_machine = StoreLocation(location.url, location.options, str(scratch / "reads-b"), location.read_cache_bytes)
    times["cached, new machine"], hits, steps = run(scratch / "b", new_machine, profile, "cached")
    assert hits == steps, (hits, steps)
    times["cached, warm"], hits, steps = run(scratch / "c", new_machine, profile, "warm")
    assert hits == steps, (hits, steps)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="demo_equities")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="quant-s3-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        server = start_s3_server(scratch)
        try:
            results: dict[str, list[dict[str, float]]] = {"local": [], "s3": []}
            for index in range(args.repeat):
                # interleaved, so a change in the machine's load hits both stores alike
                local = StoreLocation.parse(scratch / f"store-{index}", read_cache=scratch / f"reads-l{index}")
                results["local"].append(repetition(scratch / f"local-{index}", local, args.profile))
                bucket = f"bench-{secrets.token_hex(4)}"
                server.create_bucket(bucket)
                remote = StoreLocation.parse(f"s3://{bucket}/quant", options=server.options, read_cache=scratch / f"reads-s{index}")
                results["s3"].append(repetition(scratch / f"s3-{index}", remote, args.profile))
        finally:
            server.stop()
    print(f"portfolio.full, profile {args.profile}, {args.repeat} repetitions, wall-clock median seconds\n")
    print("run | local disk | S3 (loopback moto) | S3 / local")
    print("---|---|---|---")
    for mode in results["local"][0]:
        local = statistics.median(r[mode] for r in results["local"])
        remote = statistics.median(r[mode] for r in results["s3"])
        print(f"{mode} | {local:.3f} | {remote:.3f} | {remote / local:.2f}")


if __name__ == "__main__":
    main()
