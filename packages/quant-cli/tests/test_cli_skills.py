"""`quant skills list | install`, and the packaged skills checked against the real command.

Every `quant <group> <command> --option` a SKILL.md or script mentions must exist in this CLI,
and every stage, pipeline, parameter and profile id they name must exist in the installed
registry and profiles; their scripts are run against the real `quant` on a tiny profile.
quant-cli does not depend on quant-skills (nor on quant-stages): tests that need them skip when
they are not installed (the à la carte `nox -s cli` session); the missing-package test always runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from quant_core import QuantSDK
from quant_core.home import QuantHome
from typer.core import TyperGroup

from quant_cli.app import build_app

HAS_SKILLS = importlib.util.find_spec("quant_skills") is not None
HAS_STAGES = importlib.util.find_spec("quant_stages") is not None
needs_skills = pytest.mark.skipif(not HAS_SKILLS, reason="quant-skills is not installed")
needs_stages = pytest.mark.skipif(not (HAS_SKILLS and HAS_STAGES), reason="quant-skills or quant-stages not installed")

SKILL_NAMES = ["quant-diagnose-run", "quant-explore-stages", "quant-operate", "quant-profiles", "quant-run-portfolio"]
QUANT = Path(sys.executable).parent / "quant"


# -- the commands --------------------------------------------------------------------------------


def test_missing_package_is_exit_3_with_the_install_hint(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "quant_skills", None)  # `import quant_skills` now fails
    for args in (("skills", "list"), ("skills", "install")):
        result = cli(*args, "--json")
        assert result.exit_code == 3
        assert result.stderr == "error: the Agent Skills are not installed: pip install quant-skills\n"
        assert json.loads(result.stdout) == {
            "error": {
                "type": "SkillsNotInstalledError",
                "message": "the Agent Skills are not installed: pip install quant-skills",
                "exit_code": 3,
            }
        }


def test_help_names_the_default_target(cli) -> None:
    result = cli("skills", "install", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "./.claude/skills" in result.stdout and "--force" in result.stdout
    assert "skills" in cli("--help").stdout


@needs_skills
def test_list(cli) -> None:
    import quant_skills

    result = cli("skills", "list", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [s["name"] for s in document["skills"]] == SKILL_NAMES
    for entry, skill in zip(document["skills"], quant_skills.list_skills(), strict=True):
        assert entry == {"name": skill.name, "description": skill.description, "path": str(skill.path)}
    human = cli("skills", "list", env={"COLUMNS": "200"}).stdout
    assert "5 skill(s)" in human and "quant-run-portfolio" in human


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@needs_skills
def test_install_then_again_then_conflict_then_force(cli, tmp_path: Path) -> None:
    target = tmp_path / "agent skills"
    first = cli("skills", "install", "--target", str(target), "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout) == {
        "target": str(target),
        "skills": [{"name": n, "path": str(target / n), "status": "installed"} for n in SKILL_NAMES],
    }
    script = target / "quant-run-portfolio" / "scripts" / "run-portfolio.sh"
    assert mode(script) == 0o755
    assert sorted(p.name for p in target.iterdir()) == SKILL_NAMES

    again = json.loads(cli("skills", "install", "--target", str(target), "--json").stdout)
    assert [s["status"] for s in again["skills"]] == ["unchanged"] * 5

    edited = target / "quant-profiles" / "SKILL.md"
    edited.write_text("my edits", encoding="utf-8")
    refused = cli("skills", "install", "--target", str(target), "--json")
    assert refused.exit_code == 2
    message = (
        f"{target} already holds a different version of quant-profiles; nothing was changed "
        "(rerun with --force to replace them)"
    )
    assert json.loads(refused.stdout)["error"] == {"type": "SkillsCommandError", "message": message, "exit_code": 2}
    assert refused.stderr == f"error: {message}\n"
    assert edited.read_text(encoding="utf-8") == "my edits"

    forced = cli("skills", "install", "--target", str(target), "--force", "--json")
    assert forced.exit_code == 0
    statuses = {s["name"]: s["status"] for s in json.loads(forced.stdout)["skills"]}
    assert statuses == {
        "quant-diagnose-run": "unchanged", "quant-explore-stages": "unchanged", "quant-operate": "unchanged",
        "quant-profiles": "replaced", "quant-run-portfolio": "unchanged",
    }
    assert edited.read_text(encoding="utf-8").startswith("---\nname: quant-profiles\n")
    assert sorted(p.name for p in target.iterdir()) == SKILL_NAMES  # no staging folder left


@needs_skills
def test_install_defaults_to_dot_claude_skills(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("skills", "install", env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / ".claude" / "skills").iterdir()) == SKILL_NAMES
    assert f"installed quant-run-portfolio  {tmp_path / '.claude' / 'skills' / 'quant-run-portfolio'}" in result.stdout
    assert f"5 skill(s) in {tmp_path / '.claude' / 'skills'}" in result.stdout


# -- what the skills mention --------------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    skill: str
    file: str
    text: str  # `quant ...` as written, up to the end of the command


#: `quant` (or the scripts' `run_quant`) where a command starts: a line start (after an optional
#: comment mark), `$(`, `(` or a backtick. "the quant command" in prose is not a mention.
COMMAND_START = re.compile(r"(?:^[ \t]*(?:#[ \t]*)?|\$\(|\(|`)(?:run_quant|quant)[ \t]+(?=[a-z-])", re.M)
COMMAND_END = re.compile(r"[`)|;\n]|&&| #|<<<")
CODE = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.S)


def code_of_markdown(text: str) -> str:
    """Fenced blocks and inline code spans, one per line, with shell line continuations joined."""
    parts = [block if block else span for block, span in CODE.findall(text)]
    return "\n".join(parts).replace("\\\n", " ")


def command_mentions(code: str) -> list[str]:
    mentions = []
    for match in COMMAND_START.finditer(code):
        rest = code[match.end():]
        end = COMMAND_END.search(rest)
        mentions.append("quant " + (rest[: end.start()] if end else rest).strip())
    return mentions


def skill_files() -> Iterator[tuple[str, str, str]]:
    """(skill, file, text) for every SKILL.md and script of every packaged skill."""
    import quant_skills

    for skill in quant_skills.list_skills():
        yield skill.name, "SKILL.md", (skill.path / "SKILL.md").read_text(encoding="utf-8")
        scripts = skill.path / "scripts"
        if scripts.is_dir():
            for script in sorted(scripts.iterdir(), key=lambda s: s.name):
                yield skill.name, f"scripts/{script.name}", script.read_text(encoding="utf-8")


def all_mentions() -> list[Mention]:
    found = []
    for skill, file, text in skill_files():
        code = code_of_markdown(text) if file.endswith(".md") else text
        found.extend(Mention(skill, file, m) for m in command_mentions(code))
    return found


def test_mention_parser_known_answer() -> None:
    markdown = (
        "Run the quant command. `quant stage list --json` and\n```bash\n"
        "quant pipeline run portfolio.full \\\n    --profile demo --json   # comment\n```\n"
        "(see `quant runs show RUN`)\n"
    )
    assert command_mentions(code_of_markdown(markdown)) == [
        "quant stage list --json",
        "quant pipeline run portfolio.full      --profile demo --json",
        "quant runs show RUN",
    ]
    script = 'echo "the quant command is missing"\nx=$(quant stage schema "$1" --json) || s=$?\nrun_quant runs show "$run"\n# (quant profile show NAME --json)\n'
    assert command_mentions(script) == [
        'quant stage schema "$1" --json', 'quant runs show "$run"', "quant profile show NAME --json",
    ]


GLOBAL_FLAGS = {"--json", "--debug", "--help"}


def real_command_tree() -> TyperGroup:
    return typer.main.get_command(build_app(lambda home: QuantSDK(home=home)))


def subcommand(group: TyperGroup, name: str) -> Any:
    """The subcommand `name` of `group` (the root loads its commands on first use)."""
    return group.get_command(typer.Context(group), name)


def option_names(command: Any) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts) if name.startswith("-")}


def check_mention(root: TyperGroup, text: str) -> str | None:
    """None when `text` is a command line the CLI accepts (commands and option names), else why not."""
    tokens = shlex.split(text)[1:]
    words: list[str] = []
    options: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--home":
            index += 1
        elif token.startswith("-"):
            options.append(token.split("=", 1)[0])
        elif not words or (len(words) == 1 and isinstance(subcommand(root, words[0]), TyperGroup)):
            words.append(token)
        index += 1
    command: Any = root
    for word in words:
        if not isinstance(command, TyperGroup):
            break
        found = subcommand(command, word)
        if found is None:
            return f"no command {word!r} under {command.name!r} (have {command.list_commands(typer.Context(command))})"
        command = found
    allowed = option_names(command) | option_names(root) | GLOBAL_FLAGS
    unknown = [o for o in options if o not in allowed]
    return f"unknown option(s) {unknown} for {' '.join(words)}" if unknown else None


@needs_skills
def test_every_command_the_skills_mention_exists() -> None:
    root = real_command_tree()
    mentions = all_mentions()
    problems = [f"{m.skill}/{m.file}: {m.text!r}: {why}" for m in mentions if (why := check_mention(root, m.text))]
    assert problems == []
    # Not a vacuous pass: every skill mentions commands, and the main groups are all covered.
    assert {m.skill for m in mentions} == set(SKILL_NAMES)
    used = {tuple(shlex.split(m.text)[1:3]) for m in mentions}
    for expected in [("stage", "list"), ("stage", "schema"), ("stage", "run"), ("pipeline", "run"),
                     ("pipeline", "show"), ("runs", "show"), ("runs", "resume"), ("profile", "show")]:
        assert expected in used, expected


@needs_skills
def test_the_checker_catches_a_wrong_command() -> None:
    root = real_command_tree()
    assert check_mention(root, "quant stage run selection.policy --from-run R --profile demo -p a=1 --json") is None
    assert check_mention(root, "quant --home /x runs list --all") is None
    assert "no command 'stages'" in check_mention(root, "quant stages list")
    assert "no command 'rerun'" in check_mention(root, "quant runs rerun R")
    assert "['--from']" in check_mention(root, "quant stage run x --from R")


# -- the ids they mention -------------------------------------------------------------------------

NAMESPACES = "discovery|selection|allocation|meta|portfolio"
DOTTED_ID = re.compile(rf"(?<![\w.-])((?:{NAMESPACES})\.[a-z_]+)(?:\.([a-z_]+))?(?![\w-])")
PARAM_VALUE = re.compile(rf"--param[ =]'?((?:{NAMESPACES})\.[a-z_]+)\.([a-z_]+)=([a-z_]+)\b")
PROFILE_REFERENCES = (
    re.compile(r"--profile[ =]([^\s`'\")]+)"),
    re.compile(r"[?&]profile=([^\s&'`]+)"),
    re.compile(r'^profile = "([^"]+)"', re.M),
    re.compile(r"quant profile show ([^\s`]+)"),
    re.compile(r"(?:check-profile|run-portfolio)\.sh ([^\s`]+)"),
)
#: Misspelt on purpose: quant-diagnose-run and quant-profiles quote the "did you mean" errors they cause.
DELIBERATE_TYPOS = {"selection.polic"}
LITERAL_PROFILE = re.compile(r"^[a-z][a-z0-9_]*$")
DEFINED_PROFILE = re.compile(r"profiles/([a-z][a-z0-9_]*)\.toml")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sdk = QuantSDK(home=QuantHome.resolve(tmp_path_factory.mktemp("home"), environ={}))
    stages = {s.id: s for s in sdk.registry.list_stages()}
    return {
        "stages": stages,
        "pipelines": {p.id for p in sdk.registry.list_pipelines()},
        "profiles": set(sdk.profiles.names(sdk.home)),
    }


def schema_enum(spec: Any, param: str) -> list[Any] | None:
    prop = spec.input_schema["properties"][param]
    for option in (prop, *prop.get("anyOf", [])):
        if "enum" in option:
            return option["enum"]
    return None


@needs_stages
def test_every_stage_pipeline_and_parameter_id_exists(real: dict[str, Any]) -> None:
    problems, seen = [], set()
    for skill, file, text in skill_files():
        for identifier, param in DOTTED_ID.findall(text):
            seen.add(identifier)
            where = f"{skill}/{file}: {identifier}{'.' + param if param else ''}"
            if identifier in real["stages"]:
                properties = real["stages"][identifier].input_schema.get("properties", {})
                if param and param not in properties:
                    problems.append(f"{where}: stage {identifier} has no parameter {param!r}")
            elif identifier in DELIBERATE_TYPOS:
                assert f"unknown stage '{identifier}'" in text, where
            elif identifier in real["pipelines"]:
                if param:
                    problems.append(f"{where}: a pipeline id followed by .{param}")
            else:
                problems.append(f"{where}: no stage or pipeline {identifier!r}")
        for identifier, param, value in PARAM_VALUE.findall(text):
            enum = schema_enum(real["stages"][identifier], param) if identifier in real["stages"] else None
            if enum is not None and value not in enum:
                problems.append(f"{skill}/{file}: {identifier}.{param}={value} is not one of {enum}")
    assert problems == []
    assert seen >= set(real["stages"]) | real["pipelines"]  # the skills name every stage and pipeline


@needs_stages
def test_every_profile_the_skills_use_exists_or_is_written_by_the_skill(real: dict[str, Any]) -> None:
    problems, used = [], set()
    texts: dict[str, str] = {}
    for skill, _, text in skill_files():
        texts[skill] = texts.get(skill, "") + text
    for skill, text in texts.items():
        defined = set(DEFINED_PROFILE.findall(text))
        for pattern in PROFILE_REFERENCES:
            for name in pattern.findall(text):
                if not LITERAL_PROFILE.match(name):
                    continue  # a placeholder (NAME, "$profile") or a path
                used.add(name)
                if name not in real["profiles"] and name not in defined:
                    problems.append(f"{skill}: profile {name!r} is neither installed nor written by the skill")
    assert problems == []
    assert {"demo", "demo_equities", "demo_crypto", "my_equities", "my_meta"} <= used


# -- the scripts, against the real quant ------------------------------------------------------------

TINY_PROFILE = """\
[profile]
description = "A small synthetic sleeve for tests."

[data]
dataset = "synthetic"
params = { seed = 3, n_assets = 30, n_days = 500, asset_classes = ["equity"] }

[stages."selection.policy"]
min_history = 100

[stages."allocation.backtest"]
train = 252
test = 63
"""


@dataclass
class Scripts:
    home: Path
    env: dict[str, str]
    folders: dict[str, Path]

    def run(self, skill: str, script: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
        path = self.folders[skill] / "scripts" / script
        done = subprocess.run(
            [str(path), *args], capture_output=True, text=True, env=self.env | (env or {}), timeout=300, check=False,
        )
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Scripts:
    if not (HAS_SKILLS and HAS_STAGES and QUANT.is_file()):
        pytest.skip("needs quant-skills, quant-stages and the quant console script")
    import quant_skills

    root = tmp_path_factory.mktemp("scripts")
    folders = {p.name: p for p in quant_skills.install(root / "skills")}  # run the installed copies
    home = root / "home"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "tiny.toml").write_text(TINY_PROFILE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {
        "QUANT_HOME": str(home), "PATH": f"{QUANT.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return Scripts(home=home, env=env, folders=folders)


def test_run_rerun_and_diagnose_a_portfolio(scripts: Scripts) -> None:
    code, summary, _ = scripts.run("quant-run-portfolio", "run-portfolio.sh", "tiny")
    assert code == 0
    assert (summary["target"], summary["profile"], summary["status"]) == ("portfolio.full", "tiny", "succeeded")
    assert summary["stage_count"] == 8 and summary["backtest"]["windows"] >= 1
    assert summary["allocation"]["engine"] == "hrp" and summary["winners"] == summary["allocation"]["positions"]
    run_id = summary["run_id"]

    code, rerun, _ = scripts.run(
        "quant-explore-stages", "rerun-stage.sh", run_id, "allocation.optimize", "--param", "engine=equal_weight",
    )
    assert code == 0
    assert (rerun["status"], rerun["profile"], rerun["params"]["engine"]) == ("succeeded", "tiny", "equal_weight")
    assert sorted(rerun["wrote"]) == ["allocation", "weights"]
    assert rerun["wrote"]["allocation"]["engine"] == "equal_weight"

    code, diagnosis, _ = scripts.run("quant-diagnose-run", "diagnose.sh", run_id)
    assert code == 0
    assert (diagnosis["status"], diagnosis["failed_steps"], diagnosis["sleeves"]) == ("succeeded", [], [])


def test_a_failing_run_keeps_quant_exit_code_and_is_diagnosed(scripts: Scripts) -> None:
    code, error, stderr = scripts.run(
        "quant-run-portfolio", "run-portfolio.sh", "tiny", "--param", "selection.policy.max_volatility=0.0001",
    )
    assert code == 4
    assert (error["error"]["type"], error["error"]["stage_id"]) == ("StageFailedError", "selection.synthesis")
    assert stderr.startswith("error: stage 'selection.synthesis' failed")

    code, diagnosis, _ = scripts.run("quant-diagnose-run", "diagnose.sh", error["error"]["run_id"])
    assert code == 0
    assert diagnosis["status"] == "failed"
    assert [(s["step"], s["stage_id"]) for s in diagnosis["failed_steps"]] == [(6, "selection.synthesis")]
    assert diagnosis["vetoes_by_reason"]["volatility"] == 30  # every asset is above 0.0001


def test_unknown_names_keep_exit_code_3(scripts: Scripts) -> None:
    for skill, script, args, kind in [
        ("quant-run-portfolio", "run-portfolio.sh", ("tiny_typo",), "ProfileNotFoundError"),
        ("quant-explore-stages", "stage-params.sh", ("selection.clusterin",), "StageNotFoundError"),
        ("quant-diagnose-run", "diagnose.sh", ("no-such-run",), "RunNotFoundError"),
        ("quant-profiles", "check-profile.sh", ("nope",), "ProfileNotFoundError"),
    ]:
        code, document, stderr = scripts.run(skill, script, *args)
        assert (code, document["error"]["type"]) == (3, kind), script
        assert stderr.startswith("error: unknown ")


def test_stage_params_lists_the_allowed_values(scripts: Scripts) -> None:
    code, document, _ = scripts.run("quant-explore-stages", "stage-params.sh", "allocation.optimize")
    assert code == 0
    engine = next(p for p in document["params"] if p["name"] == "engine")
    assert engine["default"] == "hrp"
    assert engine["enum"] == [
        "equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity", "hrp", "cluster",
    ]


def test_the_profiles_in_the_profiles_skill_are_valid(scripts: Scripts) -> None:
    """The two TOML examples of quant-profiles, written where the skill says, check out."""
    text = (scripts.folders["quant-profiles"] / "SKILL.md").read_text(encoding="utf-8")
    portfolio, meta = re.findall(r"```toml\n(.*?)```", text, re.S)
    (scripts.home / "profiles" / "my_equities.toml").write_text(portfolio, encoding="utf-8")
    (scripts.home / "profiles" / "my_meta.toml").write_text(meta, encoding="utf-8")
    code, summary, _ = scripts.run("quant-profiles", "check-profile.sh", "my_meta")
    assert code == 0
    assert (summary["name"], summary["kind"]) == ("my_meta", "meta")
    assert summary["stages"] == {"meta.optimize": ["engine"], "meta.report": ["title"]}
    assert [(s["name"], s["profile"], s["min_weight"], s["max_weight"], s["overrides"]) for s in summary["sleeves"]] == [
        ("equities", "my_equities", 0.3, 0.8, []),
        ("crypto", "demo_crypto", 0.1, 0.5, ["allocation.optimize"]),
    ]
    assert summary["sleeves"][0]["profile_source"] == str(scripts.home / "profiles" / "my_equities.toml")


def test_check_profile_refuses_a_meta_profile_as_a_sleeve(scripts: Scripts) -> None:
    nested = '[profile]\nkind = "meta"\n\n[[sleeves]]\nname = "inner"\nprofile = "demo"\n'
    (scripts.home / "profiles" / "nested.toml").write_text(nested, encoding="utf-8")
    code, document, stderr = scripts.run("quant-profiles", "check-profile.sh", "nested")
    assert code == 2
    assert document["error"]["message"] == (
        f"profile 'nested' ({scripts.home / 'profiles' / 'nested.toml'}): sleeve 'inner' names the meta "
        "profile 'demo'; a sleeve runs a portfolio profile"
    )
    assert stderr.startswith("error: profile 'nested' (") and "sleeve 'inner'" in stderr


def test_operate_checks_the_deployment(scripts: Scripts, tmp_path: Path) -> None:
    config = tmp_path / "quant.toml"
    config.write_text('[executor]\nname = "local"\nworkers = 2\n[telemetry]\nmetrics = true\n', encoding="utf-8")
    code, summary, _ = scripts.run("quant-operate", "check-deployment.sh", str(tmp_path))
    assert code == 0
    assert (summary["file"], summary["executor"], summary["installed"]) == (str(config), "local", True)
    assert summary["executor_options"] == {"workers": 2} and summary["metrics"] is True
    assert summary["changed"]["executor.workers"] == {"value": 2, "source": f"file {config}"}
    assert summary["changed"]["home"]["source"] == "env QUANT_HOME"

    code, summary, _ = scripts.run("quant-operate", "check-deployment.sh", str(tmp_path), env={"QUANT_EXECUTOR": "nowhere"})
    assert code == 0 and summary["installed"] is False
    assert summary["install_hint"].startswith("unknown executor 'nowhere'")

    config.write_text('[executor]\nnmae = "ray"\n', encoding="utf-8")
    code, error, stderr = scripts.run("quant-operate", "check-deployment.sh", str(tmp_path))
    assert code == 2 and error["error"]["type"] == "ConfigError"
    assert stderr.startswith(f"error: {config}: unknown key 'executor.nmae'")


def test_operate_resumes_a_run_and_reads_its_telemetry(scripts: Scripts) -> None:
    code, summary, _ = scripts.run("quant-run-portfolio", "run-portfolio.sh", "tiny")
    assert code == 0
    run_id = summary["run_id"]

    code, resumed, _ = scripts.run("quant-operate", "resume.sh", run_id)
    assert code == 0
    assert (resumed["run_id"], resumed["status"], resumed["executor"]) == (run_id, "succeeded", "local")
    assert resumed["invocations"] == 2 and resumed["recomputed"] == [] and len(resumed["from_cache"]) == 8

    code, telemetry, _ = scripts.run("quant-operate", "run-telemetry.sh", run_id)
    assert code == 0
    # tracing is off here: no trace ids in the record
    assert telemetry["trace"] == {
        "span": "quant.run portfolio.full", "attribute": {"quant.run_id": run_id}, "trace_ids": [],
    }
    assert len(telemetry["stages"]) == 8
    backtest = telemetry["stages"]["allocation.backtest"]
    assert (backtest["attempts"], backtest["failed"], backtest["executor"], backtest["ran_on"]) == (2, 0, "local", ["driver"])
    assert backtest["cache_hits"] >= 1  # the resume was served from the cache

    for script in ("resume.sh", "run-telemetry.sh"):
        code, error, _ = scripts.run("quant-operate", script, "no-such-run")
        assert code == 3 and error["error"]["type"] == "RunNotFoundError"
