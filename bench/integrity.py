"""What integrity costs: the checks of issue 12 (sealed records and cache entries, artifacts hashed
on every cache hit and put, flushed run records, the run lock) against the code before them.

Both versions run on this machine in the same invocation, interleaved: the current checkout, and
the `--base` revision's packages (extracted with `git archive` into a temp folder and put first on
PYTHONPATH of the worker processes, with the same installed dependencies). Measured, per version:

- cached demo, in process: `meta.full` on the `demo` profile, every stage a cache hit, in a home
  that holds it (median of `--repeats` runs, wall and CPU of the process);
- cached demo, the command: `quant demo` as a user runs it, interpreter start included (target
  <= 2 s from the cache), `--cli-repeats` runs interleaved, wall and the child's CPU time;
- cold `portfolio.full` at N=2000: `demo_equities` on 2000 synthetic equities over 1000 days, in a
  fresh home (every artifact written), `--cold-repeats` runs.

For the current version it also adds up where the checks spend their time in those runs (artifact
hashing, seals, fsync, locks), by timing those functions.

    uv run python bench/integrity.py --base b53bd70 [--repeats 7] [--cli-repeats 7] [--cold-repeats 1] [--scratch DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("quant-core", "quant-stages", "quant-cli")
N_ASSETS = 2000
N_DAYS = 1000
COLD_PARAMS = {"dataset_params": {"seed": 7, "n_assets": N_ASSETS, "n_days": N_DAYS, "asset_classes": ["equity"]}}
CLI_TARGET_S = 2.0

WORKER = r'''
import json, os, sys, time

task, home, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
cold_params = json.loads(sys.argv[4])
totals = {}


def timed(owner, name, label):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def instrument():
    """Time the integrity checks where this version has them (the base has none of these)."""
    import fcntl
    import quant_core.artifacts as artifacts
    try:
        import quant_core.sealed as sealed, quant_core.cache as cache, quant_core.records as records, quant_core.journal as journal
    except ImportError:
        return False
    timed(artifacts.ArtifactStore, "verify", "artifact hashing")
    for module in (cache, records, journal):
        for name in ("seal", "unseal", "load_sealed"):
            if hasattr(module, name):
                timed(module, name, "seals")
    timed(os, "fsync", "fsync")
    timed(fcntl, "flock", "locks")
    return True


from quant_core import QuantSDK

sdk = QuantSDK(home=home)
instrumented = instrument()
samples = []
if task == "cached":
    sdk.run_pipeline("meta.full", profile="demo")  # the home holds it after this: the rest are hits
    totals.clear()
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = sdk.run_pipeline("meta.full", profile="demo")
        samples.append((time.perf_counter() - wall, time.process_time() - cpu))
        assert all(e.cache_hit for e in result.latest_attempts() if not e.stage_id.startswith("fan_out."))
else:
    wall, cpu = time.perf_counter(), time.process_time()
    sdk.run_pipeline("portfolio.full", profile="demo_equities", params=cold_params)
    samples.append((time.perf_counter() - wall, time.process_time() - cpu))
print(json.dumps({"samples": samples, "checks": {k: v / len(samples) for k, v in totals.items()} if instrumented else None}))
'''


def extract_base(revision: str, into: Path) -> dict[str, str]:
    """The base revision's package sources, compiled, and the environment that puts them first."""
    archive = subprocess.run(
        ["git", "archive", revision, *(f"packages/{p}/src" for p in PACKAGES)],
        cwd=REPO, check=True, capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into)], check=True)
    sources = os.pathsep.join(str(into / "packages" / p / "src") for p in PACKAGES)
    return {**os.environ, "PYTHONPATH": sources}


def worker(environ: dict[str, str], task: str, home: Path, repeats: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, task, str(home), str(repeats), json.dumps(COLD_PARAMS)],
        env=environ, capture_output=True, text=True, timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {task} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cli_demo(environ: dict[str, str], home: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system, from the kernel's accounting of the child) of one
    `quant demo` served from the cache."""
    quant = Path(sys.executable).with_name("quant")
    start = time.perf_counter()
    child = subprocess.Popen(
        [str(quant), "demo", "--json"], env={**environ, "QUANT_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"quant demo exited {child.returncode} in {home}")
    return wall, usage.ru_utime + usage.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git revision to compare with (the code before the checks)")
    parser.add_argument("--repeats", type=int, default=7, help="cached runs per version (default 7)")
    parser.add_argument("--cli-repeats", type=int, default=7, help="`quant demo` runs per version (default 7)")
    parser.add_argument("--cold-repeats", type=int, default=1, help="cold N=2000 runs per version (default 1)")
    parser.add_argument("--scratch", default=None, help="where the homes go (default: the temp dir)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="quant-integrity-", dir=args.scratch))
    # Both versions load from bytecode (where PYTHONDONTWRITEBYTECODE is set, the checkout's own
    # sources would otherwise be compiled again by every `quant demo`, the base's not).
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(REPO / "packages" / p / "src") for p in PACKAGES)], check=True)
    versions = {"base": extract_base(args.base, scratch / "base"), "current": dict(os.environ)}
    results: dict[str, dict[str, list]] = {name: {"cached": [], "cli": [], "cold": [], "checks_cached": [], "checks_cold": []} for name in versions}

    for name, environ in versions.items():  # one home per version, made and filled once
        cached = worker(environ, "cached", scratch / f"{name}-cached", args.repeats)
        results[name]["cached"] += cached["samples"]
        results[name]["checks_cached"].append(cached["checks"])
    for _ in range(args.cli_repeats):  # the command, interleaved
        for name, environ in versions.items():
            results[name]["cli"].append(cli_demo(environ, scratch / f"{name}-cached"))
    for index in range(args.cold_repeats):
        for name, environ in versions.items():
            cold = worker(environ, "cold", scratch / f"{name}-cold-{index}", 1)
            results[name]["cold"] += cold["samples"]
            results[name]["checks_cold"].append(cold["checks"])

    print(f"base {args.base} vs the current checkout; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'measure':<36}{'base wall':>11}{'current':>11}{'ratio':>8}{'base CPU':>11}{'current':>11}{'ratio':>8}")
    for label, key in (
        ("cached demo, in process (s)", "cached"),
        ("`quant demo` from the cache (s)", "cli"),
        ("cold portfolio.full N=2000 (s)", "cold"),
    ):
        base_wall, cur_wall = median([s[0] for s in results["base"][key]]), median([s[0] for s in results["current"][key]])
        base_cpu, cur_cpu = median([s[1] for s in results["base"][key]]), median([s[1] for s in results["current"][key]])
        print(f"{label:<36}{base_wall:>11.3f}{cur_wall:>11.3f}{cur_wall / base_wall:>8.2f}{base_cpu:>11.3f}{cur_cpu:>11.3f}{cur_cpu / base_cpu:>8.2f}")
    print(f"(target for `quant demo` from the cache: <= {CLI_TARGET_S} s wall on an idle machine)")
    for label, key in (("cached demo", "checks_cached"), ("cold N=2000", "checks_cold")):
        checks = [c for c in results["current"][key] if c]
        if checks:
            merged = {k: median([c.get(k, 0.0) for c in checks]) for k in sorted({k for c in checks for k in c})}
            print(f"time in the checks per run, {label}: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in merged.items()))
    print(f"homes kept in {scratch}")


if __name__ == "__main__":
    main()
