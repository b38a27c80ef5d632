"""README.md's commands, run as written, so that the README cannot drift from the product.

The convention, for whoever writes a README section:

- Every fenced ```bash (or sh, shell, console) block and every ```python block is run, in the
  order of the file, in one fresh working directory with no QUANT_HOME set (so state goes to
  `./.quant`, as the README says).
- In a shell block, a line whose commands are all `uv run quant ...` (or `quant ...`, joined by `;`
  or `&&`, with an optional `# comment`) runs exactly as written through bash, where `uv run`
  means "run it from this environment" (the test already runs inside it). Lines of other commands
  (`uv run pytest`, `uv run nox`, `pip install`) are shown, not run: they are the test run itself
  or change the environment. A line mixing both is an error.
- Every command must exit 0. Placeholders such as `<RUN>` cannot run: a block that needs a run id
  sets one (`--run-id eq-rp`) and uses it.
- A block that needs what the test session does not start (a backend package, a server: a Ray
  cluster, Prefect, PostgreSQL, S3) is marked on the line just before its fence:

      <!-- readme-test: skip (needs a Ray cluster: RAY_ADDRESS) -->

  The reason in the parentheses is required.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BIN = Path(sys.executable).parent
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
SKIP_MARKER = re.compile(r"^<!--\s*readme-test:\s*skip\b(?P<rest>.*?)-->\s*$")
SKIP_REASON = re.compile(r"^\s*\((?P<reason>[^)]*\S[^)]*)\)\s*$")
FENCE = re.compile(r"^```(?P<language>[\w+-]*)\s*$")
#: Generous: the first `quant demo` computes every sleeve on a loaded 2-core machine.
COMMAND_TIMEOUT_S = 1200
NARROW = 80
#: Lines that are never wrapped on purpose, so that they stay copyable.
COPYABLE = ("run id:", "record:", "report:", "store:")
SHELL_PRELUDE = (
    "set -euo pipefail\n"
    'uv() { if [ "$1" != run ]; then echo "README test: only \'uv run\' can run here" >&2; return 2; fi; shift; "$@"; }\n'
)

pytestmark = pytest.mark.skipif(
    not (BIN / "quant").is_file(), reason="the quant console script is not installed (uv sync)"
)


@dataclass
class Block:
    language: str
    code: str
    line: int
    skip_reason: str | None = None


@dataclass
class Outcome:
    command: str
    returncode: int
    stdout: str
    stderr: str


@dataclass
class ReadmeRun:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[Block] = field(default_factory=list)
    shown_only: list[str] = field(default_factory=list)


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the skip reason of its marker, if any."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        body = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        index += 1
        previous = lines[start - 1].strip() if start else ""
        marker = SKIP_MARKER.match(previous)
        reason = None
        if marker is not None:
            given = SKIP_REASON.match(marker.group("rest"))
            if given is None:
                raise ValueError(f"README line {start}: a readme-test skip marker needs a reason: <!-- readme-test: skip (why) -->")
            reason = given.group("reason").strip()
        blocks.append(Block(opening.group("language").lower(), "\n".join(body), start + 2, reason))
    return blocks


def segments(command_line: str) -> list[list[str]]:
    """The simple commands of a shell line (split on `;`, `&&`, `||`), comments dropped."""
    lexer = shlex.shlex(command_line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    parts: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "||"):
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def is_quant(words: list[str]) -> bool:
    words = words[2:] if words[:2] == ["uv", "run"] else words
    return words[:1] == ["quant"]


def runnable_lines(block: Block) -> tuple[list[str], list[str]]:
    """(lines to run, lines only shown) of a shell block (see the module's convention)."""
    run, shown = [], []
    for number, text in enumerate(block.code.splitlines(), start=block.line):
        commands = segments(text)
        if not commands:
            continue
        kinds = {is_quant(c) for c in commands}
        if kinds == {True, False}:
            raise ValueError(f"README line {number}: {text!r} mixes quant commands with others; split the line")
        if "<" in text and ">" in text and re.search(r"<[A-Z_]+>", text):
            raise ValueError(f"README line {number}: {text!r} has a placeholder; set and use a run id instead")
        (run if kinds == {True} else shown).append(text)
    return run, shown


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QUANT_HOME", "COLUMNS")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = str(NARROW)
    return env


def run_readme(workdir: Path) -> ReadmeRun:
    outcome = ReadmeRun()
    env = environment()
    for block in parse_blocks(README.read_text(encoding="utf-8")):
        if block.skip_reason is not None:
            outcome.skipped.append(block)
            continue
        if block.language in SHELL_LANGUAGES:
            run, shown = runnable_lines(block)
            outcome.shown_only.extend(shown)
            for command in run:
                done = subprocess.run(
                    ["bash", "-c", SHELL_PRELUDE + command], cwd=workdir, env=env, capture_output=True, text=True,
                    timeout=COMMAND_TIMEOUT_S,
                )
                outcome.outcomes.append(Outcome(command, done.returncode, done.stdout, done.stderr))
        elif block.language == "python":
            done = subprocess.run(
                [sys.executable, "-c", block.code], cwd=workdir, env=env, capture_output=True, text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            outcome.outcomes.append(Outcome(f"python block at README line {block.line}", done.returncode, done.stdout, done.stderr))
    return outcome


@pytest.fixture(scope="module")
def readme_run() -> ReadmeRun:
    with tempfile.TemporaryDirectory(prefix="quant-readme-") as workdir:
        yield run_readme(Path(workdir))


def test_the_readme_runs_as_written(readme_run: ReadmeRun) -> None:
    failures = [
        f"{o.command!r} exited {o.returncode}\n--- stderr ---\n{o.stderr[-3000:]}\n--- stdout ---\n{o.stdout[-2000:]}"
        for o in readme_run.outcomes if o.returncode != 0
    ]
    assert failures == [], "\n\n".join(failures)
    commands = [o.command for o in readme_run.outcomes]
    assert commands[0] == "uv run quant demo     # the main job: three sleeves on the embedded synthetic market -> meta-portfolio + HTML report"
    assert any("quant://selection/clustering?profile=demo_equities" in c for c in commands)
    assert any(c.startswith("python block") for c in commands)
    assert any(line.startswith("uv run pytest") for line in readme_run.shown_only)  # shown, not run


def test_the_readme_runs_end_with_results_that_fit_80_columns(readme_run: ReadmeRun) -> None:
    by_command = {o.command.split("#")[0].strip(): o for o in readme_run.outcomes}
    demo = by_command["uv run quant demo"].stdout.splitlines()
    assert "sleeves and meta-portfolio" in "\n".join(demo)
    assert next(line for line in demo if line.startswith("meta-portfolio")).split()[1] == "100.0%"
    assert any(line.startswith("top assets") for line in demo)
    portfolio = next(o for c, o in by_command.items() if c.startswith("uv run quant pipeline run portfolio.full"))
    assert "out-of-sample metrics" in portfolio.stdout and "top weights (risk_parity" in portfolio.stdout
    clustering = by_command["uv run quant run 'quant://selection/clustering?profile=demo_equities'"]
    assert clustering.stdout.splitlines()[-1].startswith("clusters (")
    assert "selection.clustering needs the steps before it in pipeline selection.full" in clustering.stderr
    for outcome in readme_run.outcomes:
        if outcome.stdout.lstrip().startswith("{"):
            continue  # a JSON document (`stage schema`): its strings are not wrapped
        too_wide = [line for line in outcome.stdout.splitlines() if len(line) > NARROW and not line.startswith(COPYABLE)]
        assert too_wide == [], outcome.command


def test_a_skip_marker_names_its_reason() -> None:
    text = "<!-- readme-test: skip (needs a Ray cluster) -->\n```bash\nuv run quant demo --executor ray\n```\n"
    assert [b.skip_reason for b in parse_blocks(text)] == ["needs a Ray cluster"]
    with pytest.raises(ValueError, match="needs a reason"):
        parse_blocks("<!-- readme-test: skip -->\n```bash\nuv run quant demo\n```\n")


def test_only_quant_lines_run_and_placeholders_are_refused() -> None:
    block = Block("bash", "uv run quant runs list; uv run quant runs show r1   # two\nuv run pytest  # the suite\n", 1)
    assert runnable_lines(block) == (["uv run quant runs list; uv run quant runs show r1   # two"], ["uv run pytest  # the suite"])
    with pytest.raises(ValueError, match="mixes"):
        runnable_lines(Block("bash", "uv run quant demo && uv run pytest", 1))
    with pytest.raises(ValueError, match="placeholder"):
        runnable_lines(Block("bash", "uv run quant runs show <RUN>", 1))
