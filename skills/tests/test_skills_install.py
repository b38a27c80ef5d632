"""`install`: a full copy per skill renamed into place; refuses to overwrite another version
unless forced; leaves nothing half-copied when it fails."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

import quant_skills.installer as installer
from quant_skills import (
    Skill,
    SkillConflictError,
    SkillError,
    SkillValidationError,
    install,
    list_skills,
    load_skill,
    skill_status,
)

SCRIPT = "#!/usr/bin/env bash\nset -euo pipefail\nquant stage list --json\n"


def make_skill(root: Path, name: str, body: str = "Run `scripts/go.sh`.\n", script: str = SCRIPT) -> Skill:
    path = root / name
    (path / "scripts").mkdir(parents=True)
    (path / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Does {name}. Use when asked.\n---\n{body}")
    (path / "scripts" / "go.sh").write_text(script)
    (path / "notes.txt").write_text("notes\n")
    return load_skill(path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), mode(p)) for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def source(tmp_path: Path) -> list[Skill]:
    return [make_skill(tmp_path / "src", "beta"), make_skill(tmp_path / "src", "alpha")]


def test_install_copies_every_file_with_modes(tmp_path: Path, source: list[Skill]) -> None:
    os.chmod(source[0].path / "scripts" / "go.sh", 0o600)  # the source's own mode does not matter
    target = tmp_path / "agent" / "skills"
    installed = install(target, skills=source)
    assert installed == [target / "alpha", target / "beta"]
    assert listing(target / "beta") == {
        "SKILL.md": ((source[0].path / "SKILL.md").read_bytes(), 0o644),
        "notes.txt": (b"notes\n", 0o644),
        "scripts/go.sh": (SCRIPT.encode(), 0o755),
    }
    assert mode(target / "beta") == 0o755 and mode(target / "beta" / "scripts") == 0o755
    assert sorted(p.name for p in target.iterdir()) == ["alpha", "beta"]  # no staging folder left


def test_install_is_idempotent(tmp_path: Path, source: list[Skill]) -> None:
    target = tmp_path / "skills"
    install(target, skills=source)
    inode = (target / "alpha").stat().st_ino
    assert [skill_status(s, target) for s in source] == ["same", "same"]
    assert install(target, skills=source) == [target / "alpha", target / "beta"]
    assert (target / "alpha").stat().st_ino == inode  # left untouched, not copied again


def test_status(tmp_path: Path, source: list[Skill]) -> None:
    target = tmp_path / "skills"
    assert skill_status(source[0], target) == "missing"
    install(target, skills=source)
    (target / "beta" / ".DS_Store").write_bytes(b"\0")  # hidden files are not part of a skill
    assert skill_status(source[0], target) == "same"
    os.chmod(target / "beta" / "scripts" / "go.sh", 0o644)
    assert skill_status(source[0], target) == "different"  # a script that lost its executable bit
    os.chmod(target / "beta" / "scripts" / "go.sh", 0o755)
    (target / "beta" / "extra.md").write_text("mine")
    assert skill_status(source[0], target) == "different"


def test_a_different_skill_is_refused_and_nothing_changes(tmp_path: Path, source: list[Skill]) -> None:
    target = tmp_path / "skills"
    (target / "beta").mkdir(parents=True)
    (target / "beta" / "SKILL.md").write_text("my own edits")
    with pytest.raises(SkillConflictError) as caught:
        install(target, skills=source)
    assert caught.value.paths == (target / "beta",)
    assert str(target / "beta") in str(caught.value)
    # alpha, which could have been installed, was not: the conflict is found before any copy
    assert sorted(p.name for p in target.iterdir()) == ["beta"]
    assert (target / "beta" / "SKILL.md").read_text() == "my own edits"


def test_force_replaces_a_different_skill(tmp_path: Path, source: list[Skill]) -> None:
    target = tmp_path / "skills"
    (target / "beta" / "old").mkdir(parents=True)
    (target / "beta" / "old" / "file").write_text("old")
    install(target, skills=source, force=True)
    install(tmp_path / "fresh", skills=source)
    assert listing(target / "beta") == listing(tmp_path / "fresh" / "beta")
    assert not (target / "beta" / "old").exists()
    assert [skill_status(s, target) for s in source] == ["same", "same"]
    assert sorted(p.name for p in target.iterdir()) == ["alpha", "beta"]


def test_force_replaces_a_file_or_a_symlink_but_not_what_it_points_to(tmp_path: Path, source: list[Skill]) -> None:
    target = tmp_path / "skills"
    target.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (target / "alpha").symlink_to(elsewhere, target_is_directory=True)
    (target / "beta").write_text("a file")
    assert [skill_status(s, target) for s in source] == ["different", "different"]
    with pytest.raises(SkillConflictError):
        install(target, skills=source)
    install(target, skills=source, force=True)
    assert not (target / "alpha").is_symlink() and (target / "alpha" / "SKILL.md").is_file()
    assert (target / "beta" / "SKILL.md").is_file()
    assert (elsewhere / "keep.txt").read_text() == "keep"


def test_a_failed_copy_leaves_no_half_copied_folder(
    tmp_path: Path, source: list[Skill], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "skills"
    real_copy = installer.copy_tree

    def copy_then_fail(from_folder, to_folder) -> None:
        real_copy(from_folder, to_folder)  # everything is copied into the staging folder ...
        if from_folder.name == "beta":
            raise OSError(28, "No space left on device")  # ... and then the disk fills up

    monkeypatch.setattr(installer, "copy_tree", copy_then_fail)
    with pytest.raises(OSError, match="No space left"):
        install(target, skills=source)
    assert sorted(p.name for p in target.iterdir()) == ["alpha"]  # alpha done, beta absent, no staging


def test_a_failed_replacement_keeps_the_old_folder(
    tmp_path: Path, source: list[Skill], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "skills"
    (target / "beta").mkdir(parents=True)
    (target / "beta" / "SKILL.md").write_text("old version")
    real_rename = os.rename

    def rename(src, dst) -> None:
        if Path(src).name.endswith(".installing") and Path(dst) == target / "beta":
            raise PermissionError(13, "Permission denied")
        real_rename(src, dst)

    monkeypatch.setattr(installer.os, "rename", rename)
    with pytest.raises(PermissionError):
        install(target, skills=source, force=True)
    assert (target / "beta" / "SKILL.md").read_text() == "old version"
    assert sorted(p.name for p in target.iterdir()) == ["alpha", "beta"]


def test_an_invalid_skill_stops_the_install_before_any_copy(tmp_path: Path, source: list[Skill]) -> None:
    bad = make_skill(tmp_path / "src", "gamma", body="Run `scripts/missing.sh`.\n")
    target = tmp_path / "skills"
    with pytest.raises(SkillValidationError, match="missing-script"):
        install(target, skills=[*source, bad])
    assert not target.exists() or list(target.iterdir()) == []


def test_two_skills_with_one_name_are_refused(tmp_path: Path) -> None:
    one = make_skill(tmp_path / "a", "same")
    two = make_skill(tmp_path / "b", "same")
    with pytest.raises(SkillError, match="two skills share the name same"):
        install(tmp_path / "skills", skills=[one, two])


def test_install_from_an_archive(tmp_path: Path) -> None:
    """A package imported from a zip gives `Traversable` folders, not paths: they install too."""
    archive = tmp_path / "skills.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zeta/SKILL.md", "---\nname: zeta\ndescription: Zeta. Use when asked.\n---\nRun `scripts/go.sh`.\n")
        zipped.writestr("zeta/scripts/go.sh", SCRIPT)
    skill = load_skill(zipfile.Path(archive, "zeta/"))
    assert skill.name == "zeta"
    target = tmp_path / "skills"
    assert install(target, skills=[skill]) == [target / "zeta"]
    assert listing(target / "zeta") == {
        "SKILL.md": (b"---\nname: zeta\ndescription: Zeta. Use when asked.\n---\nRun `scripts/go.sh`.\n", 0o644),
        "scripts/go.sh": (SCRIPT.encode(), 0o755),
    }
    assert skill_status(skill, target) == "same"


def test_install_the_packaged_skills(tmp_path: Path) -> None:
    target = tmp_path / ".claude" / "skills"
    installed = install(target)
    assert [p.name for p in installed] == [s.name for s in list_skills()]
    for skill, folder in zip(list_skills(), installed, strict=True):
        assert (folder / "SKILL.md").read_bytes() == (skill.path / "SKILL.md").read_bytes()
        scripts = sorted((folder / "scripts").iterdir())
        assert scripts and all(mode(s) == 0o755 for s in scripts)
        assert load_skill(folder) == Skill(name=skill.name, description=skill.description, path=folder)
