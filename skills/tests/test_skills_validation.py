"""Every packaged skill follows the Agent Skills rules; each rule refuses the folder that breaks it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from quant_skills import Skill, SkillValidationError, list_skills, load_skill, validate

PACKAGED = ["quant-diagnose-run", "quant-explore-stages", "quant-operate", "quant-profiles", "quant-run-portfolio"]
GOOD_SCRIPT = "#!/usr/bin/env bash\n# does a thing\nset -euo pipefail\nquant stage list --json\n"


def make_skill(
    root: Path,
    folder: str = "my-skill",
    *,
    frontmatter: str | None = None,
    body: str = "# My skill\n\nRun `scripts/go.sh`.\n",
    scripts: dict[str, str] | None = None,
) -> Skill:
    path = root / folder
    (path / "scripts").mkdir(parents=True)
    if frontmatter is None:
        frontmatter = f"name: {folder}\ndescription: Does a thing. Use when a thing is needed.\n"
    (path / "SKILL.md").write_text(f"---\n{frontmatter}---\n{body}", encoding="utf-8")
    for name, text in ({"go.sh": GOOD_SCRIPT} if scripts is None else scripts).items():
        (path / "scripts" / name).write_text(text, encoding="utf-8")
    return Skill(name=folder, description="", path=path)


def rule_of(skill: Skill) -> str:
    with pytest.raises(SkillValidationError) as caught:
        validate(skill)
    return caught.value.rule


# -- the packaged skills -----------------------------------------------------------------------


def test_the_packaged_skills() -> None:
    assert [s.name for s in list_skills()] == PACKAGED


@pytest.mark.parametrize("skill", list_skills(), ids=lambda s: s.name)
def test_packaged_skill_is_valid(skill: Skill) -> None:
    validate(skill)
    assert skill.path.name == skill.name
    assert 1 <= len(skill.description) <= 1024
    assert "Use when" in skill.description  # says when to use it, not only what it does


def packaged_scripts() -> list[Path]:
    return sorted(
        Path(str(script)) for skill in list_skills() for script in (skill.path / "scripts").iterdir()
        if script.is_file()
    )


def test_every_packaged_skill_has_scripts() -> None:
    assert {p.parent.parent.name for p in packaged_scripts()} == set(PACKAGED)


@pytest.mark.parametrize("script", packaged_scripts(), ids=lambda p: p.name)
def test_packaged_script_is_executable_bash_in_strict_mode(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    checked = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("script", packaged_scripts(), ids=lambda p: p.name)
def test_packaged_script_asks_quant_for_json(script: Path) -> None:
    """Every call is `$(quant ... --json)`, or goes through a `run_quant` that adds `--json`."""
    text = script.read_text(encoding="utf-8")
    calls = re.findall(r"\$\(quant [^)]*\)", text)
    assert calls or "run_quant " in text
    for call in calls:
        assert call.endswith(" --json)"), call
    if "run_quant " in text:
        assert 'QUANT_OUT=$(quant "$@" --json)' in text


@pytest.mark.parametrize("script", packaged_scripts(), ids=lambda p: p.name)
def test_packaged_script_without_arguments_prints_usage_and_exits_2(script: Path, tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    result = subprocess.run([bash, str(script)], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"usage: {script.name} ")


# -- each rule ---------------------------------------------------------------------------------


def test_a_good_skill_validates_and_loads(tmp_path: Path) -> None:
    skill = make_skill(tmp_path)
    validate(skill)
    loaded = load_skill(tmp_path / "my-skill")
    assert loaded == Skill(name="my-skill", description="Does a thing. Use when a thing is needed.", path=tmp_path / "my-skill")


def test_limits_are_inclusive(tmp_path: Path) -> None:
    name = "a" * 64
    validate(make_skill(tmp_path, name, frontmatter=f"name: {name}\ndescription: {'d' * 1024}\ncompatibility: {'c' * 500}\n"))


@pytest.mark.parametrize(
    ("folder", "frontmatter", "rule"),
    [
        ("my-skill", "description: Does a thing.\n", "missing-field"),
        ("my-skill", "name: my-skill\n", "missing-field"),
        ("my-skill", "name: my-skill\ndescription: x\nversion: '1'\n", "unknown-field"),
        ("a" * 65, f"name: {'a' * 65}\ndescription: x\n", "name-length"),
        ("My-Skill", "name: My-Skill\ndescription: x\n", "name-charset"),
        ("-my-skill", "name: '-my-skill'\ndescription: x\n", "name-charset"),
        ("my--skill", "name: my--skill\ndescription: x\n", "name-charset"),
        ("my-skill-", "name: my-skill-\ndescription: x\n", "name-charset"),
        ("my_skill", "name: my_skill\ndescription: x\n", "name-charset"),
        ("my-skill", "name: other-skill\ndescription: x\n", "name-folder-mismatch"),
        ("my-skill", f"name: my-skill\ndescription: {'d' * 1025}\n", "description-length"),
        ("my-skill", "name: my-skill\ndescription: Runs quant <stage>.\n", "description-angle-brackets"),
        ("my-skill", f"name: my-skill\ndescription: x\ncompatibility: {'c' * 501}\n", "compatibility-length"),
        ("my-skill", "name: my-skill\ndescription: 'x: y' # c\n", "frontmatter-quoting"),
    ],
)
def test_frontmatter_rules(tmp_path: Path, folder: str, frontmatter: str, rule: str) -> None:
    assert rule_of(make_skill(tmp_path, folder, frontmatter=frontmatter)) == rule


def test_missing_skill_md(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    skill = Skill(name="empty", description="", path=tmp_path / "empty")
    with pytest.raises(SkillValidationError) as caught:
        validate(skill)
    assert caught.value.rule == "missing-skill-md"
    assert caught.value.source == str(tmp_path / "empty" / "SKILL.md")
    with pytest.raises(SkillValidationError, match="missing-skill-md"):
        load_skill(tmp_path / "empty")


def test_error_names_the_file(tmp_path: Path) -> None:
    skill = make_skill(tmp_path, frontmatter="name: other\ndescription: x\n")
    with pytest.raises(SkillValidationError) as caught:
        validate(skill)
    assert str(caught.value) == (
        f"{tmp_path / 'my-skill' / 'SKILL.md'}: name 'other' differs from its folder name 'my-skill' "
        "(rule name-folder-mismatch)"
    )


def test_empty_body(tmp_path: Path) -> None:
    assert rule_of(make_skill(tmp_path, body="\n  \n", scripts={})) == "empty-body"


@pytest.mark.parametrize(
    ("scripts", "rule"),
    [
        ({"go.sh": "set -euo pipefail\nquant stage list --json\n"}, "script-shebang"),
        ({"go.sh": ""}, "script-shebang"),
        ({"go.sh": "#!/usr/bin/env bash\nquant stage list --json\n"}, "script-strict-mode"),
        ({"go.sh": "#!/bin/sh\nset -eu\n"}, "script-strict-mode"),
        ({"other.sh": GOOD_SCRIPT}, "missing-script"),  # the body names scripts/go.sh
    ],
)
def test_script_rules(tmp_path: Path, scripts: dict[str, str], rule: str) -> None:
    assert rule_of(make_skill(tmp_path, scripts=scripts)) == rule


def test_a_python_script_needs_a_shebang_but_not_shell_strict_mode(tmp_path: Path) -> None:
    skill = make_skill(
        tmp_path, body="Run `scripts/go.py`.\n", scripts={"go.py": "#!/usr/bin/env python3\nprint('hi')\n"}
    )
    validate(skill)


def test_scripts_may_hold_files_only(tmp_path: Path) -> None:
    skill = make_skill(tmp_path)
    (tmp_path / "my-skill" / "scripts" / "lib").mkdir()
    assert rule_of(skill) == "script-not-a-file"


def test_hidden_files_and_caches_are_ignored(tmp_path: Path) -> None:
    skill = make_skill(tmp_path)
    (tmp_path / "my-skill" / "scripts" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "my-skill" / "scripts" / "__pycache__").mkdir()
    validate(skill)


# -- the reference validator of the format (skills-ref: `agentskills validate DIR`) --------------

AGENTSKILLS = Path(shutil.which("agentskills") or Path(sys.executable).parent / "agentskills")


def reference_validate(folder: Path) -> subprocess.CompletedProcess[str]:
    assert AGENTSKILLS.is_file(), "the reference validator is missing: install skills-ref (the workspace's dev group)"
    return subprocess.run([str(AGENTSKILLS), "validate", str(folder)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("skill", list_skills(), ids=lambda s: s.name)
def test_the_reference_validator_accepts_every_packaged_skill(skill: Skill) -> None:
    result = reference_validate(Path(str(skill.path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid skill" in result.stdout


def test_the_optional_metadata_mapping_is_accepted_by_both(tmp_path: Path) -> None:
    skill = make_skill(
        tmp_path,
        frontmatter=(
            "name: my-skill\ndescription: Does a thing. Use when a thing is needed.\nlicense: MIT\n"
            "metadata:\n  author: example-org\n  version: '1.0'\ncompatibility: Needs bash and the quant command.\n"
            "allowed-tools: Bash(quant:*) Read\n"
        ),
    )
    validate(skill)
    assert reference_validate(skill.path).returncode == 0


@pytest.mark.parametrize(
    ("folder", "frontmatter", "rule"),
    [
        ("my-skill", "name: my-skill\ndescription: x\nversion: '1'\n", "unknown-field"),
        ("my-skill", "name: my-skill\n", "missing-field"),
        ("My-Skill", "name: My-Skill\ndescription: x\n", "name-charset"),
        ("my--skill", "name: my--skill\ndescription: x\n", "name-charset"),
        ("my-skill", "name: other-skill\ndescription: x\n", "name-folder-mismatch"),
        ("a" * 65, f"name: {'a' * 65}\ndescription: x\n", "name-length"),
        ("my-skill", f"name: my-skill\ndescription: {'d' * 1025}\n", "description-length"),
        ("my-skill", f"name: my-skill\ndescription: x\ncompatibility: {'c' * 501}\n", "compatibility-length"),
    ],
)
def test_what_the_format_refuses_both_validators_refuse(tmp_path: Path, folder: str, frontmatter: str, rule: str) -> None:
    skill = make_skill(tmp_path, folder, frontmatter=frontmatter)
    assert rule_of(skill) == rule
    assert reference_validate(skill.path).returncode != 0


@pytest.mark.parametrize(
    ("frontmatter", "rule"),
    [
        ("name: my-skill\ndescription: Runs quant <stage>.\n", "description-angle-brackets"),
        ("name: my-skill\ndescription: x\nmetadata: one string\n", "field-not-a-mapping"),
    ],
)
def test_the_project_is_stricter_than_the_format_here(tmp_path: Path, frontmatter: str, rule: str) -> None:
    """Rules of the project on top of the format's: the reference validator lets these through."""
    skill = make_skill(tmp_path, frontmatter=frontmatter)
    assert rule_of(skill) == rule
    assert reference_validate(skill.path).returncode == 0
