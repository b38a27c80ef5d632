"""Start-up time of the `quant` command, called directly (not through `uv run`).

Each command runs as a fresh process of the environment's console script, as a user's shell runs
it, with bytecode compiled first (an installed package has it; this machine sets
PYTHONDONTWRITEBYTECODE, so the workspace's editable sources would otherwise be compiled on every
call and the figure would measure the compiler). The peers, in the same run:

- `python -c pass`: the interpreter alone, the floor;
- a one-command Typer app that imports Typer and Rich and prints its help: what "a Typer app with
  lazy imports" costs here.

    uv run python bench/cli_startup.py [--repeats 15] [--importtime] [--instructions] [--before DIR]

`--before DIR` also times the quant commands on an older commit's sources (DIR holds its
`packages/*/src`, e.g. `git archive <commit> packages | tar -x -C DIR`), first on PYTHONPATH, on
the same installed dependencies and in the same run.

`--instructions` also counts each command's executed instructions once under valgrind's callgrind
(slow, but the same on an idle or a loaded machine, where wall and even CPU times are not).

Targets (BENCHMARKS.md): `quant --help` and `quant stage list` <= 0.4 s.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.4
ROOT = Path(__file__).resolve().parent.parent
PEER_APP = """
import typer
app = typer.Typer(add_completion=False)
@app.command()
def hello(name: str = "world", loud: bool = False) -> None:
    "Say hello."
    print(name)
app()
"""


def console_script() -> Path:
    script = Path(sys.executable).parent / "quant"
    if not script.is_file():
        sys.exit(f"no console script at {script}: run `uv sync` in the repository first")
    return script


def source_dirs(root: Path) -> list[Path]:
    return [src for src in sorted(root.glob("packages/*/src")) + [root / "skills" / "src"] if src.is_dir()]


def compile_workspace(root: Path = ROOT) -> None:
    """Bytecode for the workspace's editable sources, as an installed wheel would have."""
    for src in source_dirs(root):
        compileall.compile_dir(src, quiet=1)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(argv: list[str], env: dict[str, str], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run. On a loaded machine the wall time includes
    waiting for a core; the CPU time does not."""
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm the page cache
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), children_cpu()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu)
    return walls, cpus


def instructions(argv: list[str], env: dict[str, str], scratch: str) -> int:
    """Instructions executed by `argv` (valgrind callgrind's `I refs`), children included."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={scratch}/callgrind.%p", *argv],
        env=env, capture_output=True, text=True, check=True,
    )
    return sum(int(n.replace(",", "")) for n in re.findall(r"I\s+refs:\s+([\d,]+)", result.stderr))


def describe(times: list[float]) -> str:
    quartiles = statistics.quantiles(times, n=4)
    return f"{statistics.median(times):.3f} ({quartiles[0]:.3f}-{quartiles[2]:.3f})"


def fastest(times: list[float]) -> str:
    """The least disturbed run: on a loaded machine, the closest to what the command costs."""
    return f"{min(times):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--importtime", action="store_true", help="print the slowest imports of each quant command")
    parser.add_argument("--instructions", action="store_true", help="count each command's instructions under valgrind")
    parser.add_argument("--before", type=Path, metavar="DIR", help="also time an older commit's sources (see above)")
    args = parser.parse_args()

    compile_workspace()
    if args.before is not None:
        compile_workspace(args.before)
    quant = str(console_script())
    with tempfile.TemporaryDirectory(prefix="quant-startup-") as scratch:
        env = {**os.environ, "QUANT_HOME": str(Path(scratch) / "home"), "COLUMNS": "120"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        peer = Path(scratch) / "peer_app.py"
        peer.write_text(PEER_APP)
        quant_cases = [
            ("quant --help", [quant, "--help"], TARGET_S),
            ("quant stage list", [quant, "stage", "list"], TARGET_S),
            ("quant runs list (empty)", [quant, "runs", "list"], None),
        ]
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], None, env),
            ("typer app --help (peer)", [sys.executable, str(peer), "--help"], None, env),
            *((name, argv, target, env) for name, argv, target in quant_cases),
        ]
        if args.before is not None:
            before_env = {**env, "PYTHONPATH": os.pathsep.join(str(src) for src in source_dirs(args.before))}
            cases += [(f"before: {name}", argv, None, before_env) for name, argv, _ in quant_cases]
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.1f}; seconds, median (IQR) and fastest of {args.repeats}")
        print(f"{'command':<34} {'wall':<22} {'CPU':<22} {'min wall':<9} {'min CPU':<9} target")
        for name, argv, target, case_env in cases:
            walls, cpus = time_command(argv, case_env, args.repeats)
            verdict = "" if target is None else f"<= {target}" + ("  ok" if statistics.median(walls) <= target else "  over")
            print(f"{name:<34} {describe(walls):<22} {describe(cpus):<22} {fastest(walls):<9} {fastest(cpus):<9} {verdict}")
        if args.instructions:
            if shutil.which("valgrind") is None:
                sys.exit("--instructions needs valgrind (apt-get install valgrind)")
            print(f"\n{'command':<34} instructions (millions)")
            for name, argv, _, case_env in cases:
                print(f"{name:<34} {instructions(argv, case_env, scratch) / 1e6:,.0f}")
        if args.importtime:
            for name, argv, _ in quant_cases:
                result = subprocess.run(
                    [sys.executable, "-X", "importtime", "-c", "import sys; from quant_cli.app import main; "
                     f"sys.argv = {['quant', *argv[1:]]!r}; main()"],
                    env=env, capture_output=True, text=True,
                )
                rows = [line.split("|") for line in result.stderr.splitlines() if line.startswith("import time:")]
                rows = [(int(r[1]), r[2].rstrip()) for r in rows[1:] if r[1].strip().isdigit()]
                print(f"\n{name}: slowest imports (cumulative µs)")
                for micros, module in sorted(rows, reverse=True)[:12]:
                    print(f"  {micros:>8}  {module}")


if __name__ == "__main__":
    main()
