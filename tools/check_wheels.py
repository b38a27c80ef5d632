"""Check the wheels `uv build --all-packages` made, as a user's `pip install` would see them.

    python tools/check_wheels.py dist/wheels

- one wheel per workspace package, all at the same version;
- every requirement on a sibling quant package admits that version, and a third-party
  requirement shared by several packages has one range everywhere;
- the quant-skills wheel holds every skill's SKILL.md and its scripts, executable;
- each wheel's metadata has a name, version, summary, Python requirement and a README.

Exits 1 naming every problem found. (`twine check` is run beside it by `nox -s wheels`.)
"""

from __future__ import annotations

import email.parser
import stat
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = sorted([*ROOT.glob("packages/*/pyproject.toml"), ROOT / "skills" / "pyproject.toml"])


def metadata(wheel: Path) -> tuple[email.message.Message, zipfile.ZipFile]:
    archive = zipfile.ZipFile(wheel)
    name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    return email.parser.Parser().parsestr(archive.read(name).decode()), archive


def check(folder: Path) -> list[str]:
    problems: list[str] = []
    wheels = sorted(folder.glob("*.whl"))
    expected = {canonicalize_name(_project_name(p)) for p in PACKAGE_DIRS}
    found: dict[str, tuple[email.message.Message, zipfile.ZipFile, Path]] = {}
    for wheel in wheels:
        meta, archive = metadata(wheel)
        found[canonicalize_name(meta["Name"])] = (meta, archive, wheel)
    missing = expected - set(found)
    if missing:
        problems.append(f"no wheel for: {', '.join(sorted(missing))}")
    versions = {name: meta["Version"] for name, (meta, _, _) in found.items()}
    if len(set(versions.values())) > 1:
        problems.append(f"the packages' versions differ: {versions}")
    ranges: dict[str, dict[str, str]] = defaultdict(dict)
    for name, (meta, archive, wheel) in found.items():
        for field in ("Summary", "Requires-Python"):
            if not meta.get(field):
                problems.append(f"{wheel.name}: no {field} in its metadata")
        if not meta.get_payload().strip():
            problems.append(f"{wheel.name}: no README (long description)")
        for line in meta.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            dependency = canonicalize_name(requirement.name)
            if dependency in versions:
                if not requirement.specifier.contains(versions[dependency], prereleases=True):
                    problems.append(f"{wheel.name}: requires {line!r}, which excludes {dependency} {versions[dependency]}")
            elif requirement.marker is None or "extra" not in str(requirement.marker):
                ranges[dependency][name] = str(requirement.specifier)
    for dependency, by_package in sorted(ranges.items()):
        if len(set(by_package.values())) > 1:
            problems.append(f"{dependency} is required with different ranges: {by_package}")
    if "quant-skills" in found:
        problems.extend(_check_skills(found["quant-skills"][1]))
    return problems


def _check_skills(archive: zipfile.ZipFile) -> list[str]:
    """Every skill folder of the source tree, with its SKILL.md and executable scripts."""
    problems = []
    catalog = ROOT / "skills" / "src" / "quant_skills" / "catalog"
    names = {info.filename: info for info in archive.infolist()}
    for source in sorted(catalog.rglob("*")):
        if not source.is_file() or "__pycache__" in source.parts:
            continue
        inside = f"quant_skills/catalog/{source.relative_to(catalog).as_posix()}"
        info = names.get(inside)
        if info is None:
            problems.append(f"quant-skills wheel: {inside} is missing")
        elif source.suffix == ".sh" and not (info.external_attr >> 16) & stat.S_IXUSR:
            problems.append(f"quant-skills wheel: {inside} is not executable")
    return problems


def _project_name(pyproject: Path) -> str:
    import tomllib

    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: check_wheels.py WHEEL_FOLDER", file=sys.stderr)
        return 2
    problems = check(Path(argv[1]))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{len(list(Path(argv[1]).glob('*.whl')))} wheels checked: versions, ranges, metadata, skills data")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
