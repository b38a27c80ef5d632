"""quant_skills: Agent Skills for driving `quant` from an AI agent, shipped as package data.

Each skill is a folder under `quant_skills/catalog/` with a SKILL.md (YAML frontmatter, then
instructions) and small scripts that call `quant ... --json`. `quant skills install` copies them
into an agent's skills folder (`.claude/skills` by default).

    list_skills() -> list[Skill]                 the packaged skills, by name
    load_skill(folder) -> Skill                  a skill folder anywhere (name, description, path)
    validate(skill) -> None                      raises SkillValidationError naming the file and rule
    skill_status(skill, target) -> str           "missing" | "same" | "different" in target/<name>
    install(target, *, force=False) -> list[Path]  atomic copy into target/<name>/
"""

from quant_skills.errors import SkillConflictError, SkillError, SkillValidationError
from quant_skills.installer import install, skill_status
from quant_skills.model import Skill, list_skills, load_skill
from quant_skills.validation import validate

__all__ = [
    "Skill",
    "SkillConflictError",
    "SkillError",
    "SkillValidationError",
    "install",
    "list_skills",
    "load_skill",
    "skill_status",
    "validate",
]
