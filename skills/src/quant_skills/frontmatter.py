"""The YAML frontmatter of a SKILL.md, read without a YAML library.

A SKILL.md starts with a `---` line, a block of `key: value` lines and a closing `---` line
(the Agent Skills format, https://agentskills.io/specification). The package stays free of
dependencies, so it reads a strict subset of YAML: one `key: scalar` per line, the scalar plain,
'single-quoted' or "double-quoted" (without escapes), or a `key:` line followed by one level of
indented `subkey: scalar` lines, a mapping of strings (the format's `metadata` field). Everything
this accepts, any YAML parser reads as the same strings; anything else (deeper nesting, lists,
block scalars, a plain scalar a YAML parser would read as a number, a boolean, a date or null) is
refused with the rule it breaks, instead of being read differently by the agent that loads the
skill.
"""

from __future__ import annotations

import re

from quant_skills.errors import SkillValidationError

DELIMITER = "---"
KEY_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9_-]*):(?:[ ](?P<value>.*))?$")
#: An entry of a mapping: indented by spaces, then `key: value`.
ENTRY_LINE = re.compile(r"^(?P<indent>[ ]+)(?P<key>[A-Za-z][A-Za-z0-9_.-]*):(?:[ ](?P<value>.*))?$")
Fields = dict[str, "str | dict[str, str]"]
#: Characters that start something other than a plain scalar in YAML (flow collections, anchors,
#: tags, block scalars, quotes, directives, reserved characters, sequence and mapping indicators).
PLAIN_FORBIDDEN_START = frozenset("-?:,[]{}#&*!|>'\"%@`")
#: Plain scalars that YAML 1.1 or 1.2 resolves to null or a boolean instead of a string.
NON_STRING_WORDS = frozenset(
    {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf", ".nan"}
)
NUMBER_OR_DATE = re.compile(
    r"^[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][-+]?\d+)?$"  # 12, 1.5, 1e3, 1_000
    r"|^0[xob][0-9a-fA-F_]+$"                                   # 0x1f, 0o17, 0b101
    r"|^\d{4}-\d{1,2}-\d{1,2}([Tt ].*)?$"                       # 2024-01-31 (a timestamp)
    r"|^\d+(:[0-5]?\d)+(\.\d*)?$"                               # 1:30 (YAML 1.1 sexagesimal)
)


def split_frontmatter(text: str, source: str) -> tuple[Fields, str]:
    """The frontmatter fields (in file order: a string, or a mapping of strings) and the body
    after the closing `---`."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r") != DELIMITER:
        raise SkillValidationError("must start with a '---' line (YAML frontmatter)", source=source, rule="frontmatter-missing")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].rstrip("\r") == DELIMITER)
    except StopIteration:
        raise SkillValidationError(
            "the frontmatter is not closed by a '---' line", source=source, rule="frontmatter-unclosed"
        ) from None
    fields: Fields = {}
    number = 1
    while number < end:
        line = lines[number].rstrip("\r")
        number += 1
        if not line.strip() or line.startswith("#"):
            continue
        where = f"frontmatter line {number}"
        match = KEY_LINE.match(line)
        if match is None:
            raise SkillValidationError(
                f"{where}: expected 'key: value' on one line (only a mapping of strings may nest; "
                f"lists and multi-line values are not supported), got {line!r}",
                source=source, rule="frontmatter-syntax",
            )
        key = match["key"]
        if key in fields:
            raise SkillValidationError(f"{where}: key {key!r} repeated", source=source, rule="frontmatter-duplicate-key")
        if match["value"] is None and number < end and lines[number].startswith(" "):
            fields[key], number = _read_mapping(lines, number, end, key, source)
        else:
            fields[key] = parse_scalar(match["value"] or "", source=source, where=f"{where} ({key})")
    return fields, "\n".join(lines[end + 1 :])


def _read_mapping(lines: list[str], number: int, end: int, key: str, source: str) -> tuple[dict[str, str], int]:
    """The indented `subkey: scalar` lines from `number` on (all at one indentation), and the
    number of the first line after them."""
    mapping: dict[str, str] = {}
    indent = None
    while number < end and (lines[number].startswith(" ") or not lines[number].strip()):
        line = lines[number].rstrip("\r")
        number += 1
        if not line.strip():
            continue
        where = f"frontmatter line {number}"
        entry = ENTRY_LINE.match(line)
        if entry is None or (indent is not None and entry["indent"] != indent):
            raise SkillValidationError(
                f"{where}: in {key!r}, expected 'subkey: value' indented like the first entry (a mapping "
                f"of strings, one level deep; lists are not supported), got {line!r}",
                source=source, rule="frontmatter-syntax",
            )
        indent = entry["indent"]
        if entry["key"] in mapping:
            raise SkillValidationError(
                f"{where}: key {key}.{entry['key']} repeated", source=source, rule="frontmatter-duplicate-key"
            )
        mapping[entry["key"]] = parse_scalar(entry["value"] or "", source=source, where=f"{where} ({key}.{entry['key']})")
    return mapping, number


def parse_scalar(raw: str, *, source: str, where: str) -> str:
    """One YAML scalar that is a string for every YAML parser, as that string."""
    value = raw.strip(" ")
    if "\t" in value:
        raise SkillValidationError(f"{where}: tab character", source=source, rule="frontmatter-syntax")
    if not value:
        raise SkillValidationError(f"{where}: empty value", source=source, rule="frontmatter-empty-value")
    if value[0] == '"':
        inner = value[1:-1]
        if len(value) < 2 or value[-1] != '"' or '"' in inner or "\\" in inner:
            raise SkillValidationError(
                f"{where}: a double-quoted value must be one line, closed, without inner quotes or "
                "backslash escapes",
                source=source, rule="frontmatter-quoting",
            )
        return inner
    if value[0] == "'":
        inner = value[1:-1]
        if len(value) < 2 or value[-1] != "'" or "'" in inner.replace("''", ""):
            raise SkillValidationError(
                f"{where}: a single-quoted value must be closed, with inner quotes doubled ('')",
                source=source, rule="frontmatter-quoting",
            )
        return inner.replace("''", "'")
    if value[0] in PLAIN_FORBIDDEN_START or ": " in value or " #" in value or value.endswith(":"):
        raise SkillValidationError(
            f"{where}: {value[:40]!r}... is not a plain YAML string (it starts with an indicator "
            "or holds ': ' or ' #'): quote it",
            source=source, rule="frontmatter-quoting",
        )
    if value.lower() in NON_STRING_WORDS or NUMBER_OR_DATE.match(value):
        raise SkillValidationError(
            f"{where}: YAML reads {value!r} as a number, boolean, date or null, not a string: quote it",
            source=source, rule="frontmatter-not-a-string",
        )
    return value
