"""The rules a skill folder must follow.

Frontmatter rules are those of the Agent Skills specification (https://agentskills.io/specification):
`name` is 1-64 lowercase letters, digits and hyphens (no leading, trailing or doubled hyphen) and
equals the folder name; `description` is 1-1024 characters; `compatibility`, when given, at most 500;
`metadata`, when given, is a mapping of strings, and every other field is a string. The reference
validator of the format (`agentskills validate`, package skills-ref) accepts what this accepts: the
skills tests run both.
The description may not hold angle brackets (Anthropic's skill validator refuses them: they read
as markup where the description is shown). Project rules on top: no frontmatter key outside the
specification's scalar ones, a body after the frontmatter, every file under `scripts/` starts with
a shebang, every shell script runs under `set -euo pipefail`, and every `scripts/<file>` the
SKILL.md names exists.
"""

from __future__ import annotations

import re
from importlib.resources.abc import Traversable

from quant_skills.errors import SkillValidationError
from quant_skills.frontmatter import Fields, split_frontmatter
from quant_skills.model import Skill, is_ignored, read_skill_file

NAME_MAX = 64
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ALLOWED_FIELDS = ("name", "description", "license", "compatibility", "allowed-tools", "metadata")
#: The one field that is a mapping (of strings) rather than a string.
MAPPING_FIELDS = ("metadata",)
REQUIRED_FIELDS = ("name", "description")
SCRIPTS_FOLDER = "scripts"
SHELLS = ("bash", "sh", "zsh")
STRICT_MODE = "set -euo pipefail"
SCRIPT_REFERENCE = re.compile(r"\bscripts/([A-Za-z0-9][A-Za-z0-9._-]*)")


def validate(skill: Skill) -> None:
    """Raise `SkillValidationError` (naming the file and the rule) unless `skill` follows every rule."""
    text, source = read_skill_file(skill.path)
    fields, body = split_frontmatter(text, source)
    check_fields(fields, source, folder_name=skill.path.name)
    if not body.strip():
        raise SkillValidationError("no instructions after the frontmatter", source=source, rule="empty-body")
    scripts = check_scripts(skill.path)
    for referenced in sorted(set(SCRIPT_REFERENCE.findall(body))):
        if referenced not in scripts:
            raise SkillValidationError(
                f"names scripts/{referenced}, which the skill does not have", source=source, rule="missing-script"
            )


def check_fields(fields: Fields, source: str, *, folder_name: str) -> None:
    for key, value in fields.items():
        if key not in ALLOWED_FIELDS:
            raise SkillValidationError(
                f"unknown frontmatter key {key!r} (allowed: {', '.join(ALLOWED_FIELDS)})",
                source=source, rule="unknown-field",
            )
        if key in MAPPING_FIELDS and not isinstance(value, dict):
            raise SkillValidationError(
                f"{key!r} must be a mapping of strings (indented 'key: value' lines under '{key}:')",
                source=source, rule="field-not-a-mapping",
            )
        if key not in MAPPING_FIELDS and not isinstance(value, str):
            raise SkillValidationError(f"{key!r} must be a string, not a mapping", source=source, rule="field-not-a-string")
    for key in REQUIRED_FIELDS:
        if key not in fields:
            raise SkillValidationError(f"the frontmatter has no {key!r}", source=source, rule="missing-field")
    name = fields["name"]
    if len(name) > NAME_MAX:
        raise SkillValidationError(f"name is {len(name)} characters, over {NAME_MAX}", source=source, rule="name-length")
    if not NAME_PATTERN.match(name):
        raise SkillValidationError(
            f"name {name!r} must be lowercase letters, digits and single hyphens, not starting or "
            "ending with a hyphen",
            source=source, rule="name-charset",
        )
    if name != folder_name:
        raise SkillValidationError(
            f"name {name!r} differs from its folder name {folder_name!r}", source=source, rule="name-folder-mismatch"
        )
    description = fields["description"]
    if len(description) > DESCRIPTION_MAX:
        raise SkillValidationError(
            f"description is {len(description)} characters, over {DESCRIPTION_MAX}", source=source,
            rule="description-length",
        )
    if "<" in description or ">" in description:
        raise SkillValidationError(
            "description holds an angle bracket ('<' or '>')", source=source, rule="description-angle-brackets"
        )
    compatibility = fields.get("compatibility", "")
    if len(compatibility) > COMPATIBILITY_MAX:
        raise SkillValidationError(
            f"compatibility is {len(compatibility)} characters, over {COMPATIBILITY_MAX}", source=source,
            rule="compatibility-length",
        )


def check_scripts(folder: Traversable) -> set[str]:
    """The names of the files in `scripts/`, each checked for a shebang and, for a shell, strict mode."""
    scripts_folder = folder / SCRIPTS_FOLDER
    if not scripts_folder.is_dir():
        return set()
    names = set()
    for script in scripts_folder.iterdir():
        if is_ignored(script.name):
            continue
        source = str(script)
        if not script.is_file():
            raise SkillValidationError("scripts/ may hold files only", source=source, rule="script-not-a-file")
        lines = script.read_text(encoding="utf-8").splitlines()
        shebang = lines[0] if lines else ""
        if not shebang.startswith("#!"):
            raise SkillValidationError("a script must start with a shebang line ('#!')", source=source, rule="script-shebang")
        if any(shell in shebang.split("/")[-1].split() for shell in SHELLS) and STRICT_MODE not in (
            line.strip() for line in lines
        ):
            raise SkillValidationError(
                f"a shell script must fail loudly: add a '{STRICT_MODE}' line", source=source, rule="script-strict-mode"
            )
        names.add(script.name)
    return names
