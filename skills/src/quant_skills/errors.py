"""What can go wrong with a skill: a folder that breaks the Agent Skills format, or an install
that would overwrite something it should not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SkillError(Exception):
    """Base of the errors quant_skills raises on purpose."""


class SkillValidationError(SkillError, ValueError):
    """A skill folder breaks a rule. Names the file and the rule, e.g. `name-folder-mismatch`."""

    def __init__(self, message: str, *, source: str, rule: str) -> None:
        super().__init__(f"{source}: {message} (rule {rule})")
        self.source = source
        self.rule = rule


class SkillConflictError(SkillError):
    """The install target already holds a different version of one or more skills."""

    def __init__(self, paths: Sequence[Path]) -> None:
        listed = ", ".join(str(p) for p in paths)
        super().__init__(
            f"{listed}: already installed and different from the packaged skill "
            "(nothing was changed; install with force=True to replace it)"
        )
        self.paths = tuple(paths)
