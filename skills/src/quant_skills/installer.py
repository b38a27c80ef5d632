"""Copying the packaged skills into an agent's skills folder (e.g. `.claude/skills`), atomically.

Each skill is copied into a staging folder beside its destination and renamed into place, so a
reader never sees a half-copied skill and a failure leaves the target as it was. Permissions are
set explicitly (folders and scripts 0o755, other files 0o644), the same whatever the umask or the
way the package was installed (wheel, checkout or archive).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from quant_skills.errors import SkillConflictError, SkillError
from quant_skills.model import Skill, is_ignored, list_skills
from quant_skills.validation import validate

FOLDER_MODE = 0o755
EXECUTABLE_MODE = 0o755
FILE_MODE = 0o644
SHEBANG = b"#!"

SkillStatus = Literal["missing", "same", "different"]
#: relative path -> (bytes, executable)
Tree = dict[str, tuple[bytes, bool]]


def file_mode(data: bytes) -> int:
    """A file that starts with a shebang is meant to be run: it is installed executable."""
    return EXECUTABLE_MODE if data.startswith(SHEBANG) else FILE_MODE


def packaged_tree(folder: Traversable, prefix: str = "") -> Tree:
    tree: Tree = {}
    for child in folder.iterdir():
        if is_ignored(child.name):
            continue
        relative = f"{prefix}{child.name}"
        if child.is_dir():
            tree.update(packaged_tree(child, f"{relative}/"))
        else:
            data = child.read_bytes()
            tree[relative] = (data, file_mode(data) == EXECUTABLE_MODE)
    return tree


def installed_tree(folder: Path) -> Tree:
    tree: Tree = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(is_ignored(part) for part in relative.parts) or path.is_dir():
            continue
        tree[relative.as_posix()] = (path.read_bytes(), bool(path.stat().st_mode & 0o111))
    return tree


def skill_status(skill: Skill, target: Path) -> SkillStatus:
    """Whether `target/<name>` is absent, the packaged skill file for file (bytes and executable
    bit, hidden files aside), or something else (another version, a file, a symlink)."""
    destination = target / skill.name
    if not destination.exists() and not destination.is_symlink():
        return "missing"
    if destination.is_symlink() or not destination.is_dir():
        return "different"
    return "same" if installed_tree(destination) == packaged_tree(skill.path) else "different"


def install(target: Path, *, force: bool = False, skills: Sequence[Skill] | None = None) -> list[Path]:
    """Copy each skill (default: every packaged one) to `target/<name>/`; the installed folders by name.

    Every skill is validated and every destination compared before anything is written: a
    destination that holds something different raises `SkillConflictError` and nothing changes,
    unless `force`, which replaces it. A destination already identical is left untouched."""
    chosen = sorted(list_skills() if skills is None else skills, key=lambda s: s.name)
    names = [s.name for s in chosen]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SkillError(f"two skills share the name {', '.join(repeated)}")
    for skill in chosen:
        validate(skill)
    target.mkdir(parents=True, exist_ok=True)
    statuses = {skill.name: skill_status(skill, target) for skill in chosen}
    conflicts = [target / name for name, status in statuses.items() if status == "different"]
    if conflicts and not force:
        raise SkillConflictError(conflicts)
    for skill in chosen:
        if statuses[skill.name] != "same":
            replace_folder(skill, target / skill.name)
    return [target / name for name in names]


def replace_folder(skill: Skill, destination: Path) -> None:
    """Stage a full copy beside `destination`, then swap it in with renames (atomic on POSIX)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{skill.name}.", suffix=".installing", dir=destination.parent))
    try:
        os.chmod(staging, FOLDER_MODE)  # mkdtemp makes it 0o700
        copy_tree(skill.path, staging)
        if destination.exists() or destination.is_symlink():
            swap_in(staging, destination)
        else:
            os.rename(staging, destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def swap_in(staging: Path, destination: Path) -> None:
    """Move the old folder aside, the new one in, then delete the old; restore it if the move fails."""
    aside_parent = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".replaced", dir=destination.parent))
    aside = aside_parent / destination.name
    os.rename(destination, aside)
    try:
        os.rename(staging, destination)
    except BaseException:
        # Should this rename fail too, the old folder stays at `aside`, named in the error.
        os.rename(aside, destination)
        os.rmdir(aside_parent)
        raise
    # rmtree removes a symlink found inside the tree, never what it points to.
    shutil.rmtree(aside_parent)


def copy_tree(source: Traversable, destination: Path) -> None:
    for child in sorted(source.iterdir(), key=lambda c: c.name):
        if is_ignored(child.name):
            continue
        path = destination / child.name
        if child.is_dir():
            path.mkdir()
            os.chmod(path, FOLDER_MODE)
            copy_tree(child, path)
        else:
            data = child.read_bytes()
            with open(path, "xb") as handle:
                handle.write(data)
            os.chmod(path, file_mode(data))
