"""The frontmatter reader: the YAML subset it accepts, read as strings, and what it refuses."""

from __future__ import annotations

import pytest

from quant_skills.errors import SkillValidationError
from quant_skills.frontmatter import parse_scalar, split_frontmatter


def test_fields_and_body() -> None:
    text = "---\nname: my-skill\n# a comment\n\ndescription: Does things. Use when asked.\n---\n# Title\nbody\n"
    fields, body = split_frontmatter(text, "SKILL.md")
    assert fields == {"name": "my-skill", "description": "Does things. Use when asked."}
    assert list(fields) == ["name", "description"]
    assert body == "# Title\nbody\n"


def test_a_mapping_of_strings_one_level_deep() -> None:
    text = (
        "---\nname: my-skill\nmetadata:\n  author: example-org\n\n  version: '1.0'\n"
        "description: Does things.\n---\nbody\n"
    )
    fields, body = split_frontmatter(text, "SKILL.md")
    assert fields == {
        "name": "my-skill", "metadata": {"author": "example-org", "version": "1.0"}, "description": "Does things.",
    }
    assert body == "body\n"


def test_crlf_line_endings() -> None:
    fields, body = split_frontmatter("---\r\nname: a\r\n---\r\nbody\r\n", "SKILL.md")
    assert fields == {"name": "a"}
    assert body.strip() == "body"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text, with commas - and dashes", "plain text, with commas - and dashes"),
        ('"quoted: with colon # and hash"', "quoted: with colon # and hash"),
        ("'it''s single-quoted'", "it's single-quoted"),
        ("  padded  ", "padded"),
        ("'true'", "true"),
        ("v1.2.3", "v1.2.3"),
        ("a:b", "a:b"),
    ],
)
def test_scalars_read_as_strings(raw: str, expected: str) -> None:
    assert parse_scalar(raw, source="SKILL.md", where="line 2") == expected


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "frontmatter-empty-value"),
        ("key: value", "frontmatter-quoting"),       # a nested mapping for YAML
        ("text # comment", "frontmatter-quoting"),   # YAML would drop the comment
        ("ends with:", "frontmatter-quoting"),
        ("[a, b]", "frontmatter-quoting"),
        ("- item", "frontmatter-quoting"),
        ("> folded", "frontmatter-quoting"),
        ("*alias", "frontmatter-quoting"),
        ('"unclosed', "frontmatter-quoting"),
        ('"has \\n escape"', "frontmatter-quoting"),
        ("'it's'", "frontmatter-quoting"),
        ("true", "frontmatter-not-a-string"),
        ("No", "frontmatter-not-a-string"),
        ("null", "frontmatter-not-a-string"),
        ("~", "frontmatter-not-a-string"),
        ("42", "frontmatter-not-a-string"),
        ("1.5e3", "frontmatter-not-a-string"),
        ("0x1f", "frontmatter-not-a-string"),
        ("2024-01-31", "frontmatter-not-a-string"),
        ("1:30", "frontmatter-not-a-string"),
        ("a\tb", "frontmatter-syntax"),
    ],
)
def test_scalars_refused(raw: str, rule: str) -> None:
    with pytest.raises(SkillValidationError) as caught:
        parse_scalar(raw, source="x/SKILL.md", where="frontmatter line 2 (name)")
    assert caught.value.rule == rule
    assert str(caught.value).startswith("x/SKILL.md: frontmatter line 2 (name): ")
    assert str(caught.value).endswith(f"(rule {rule})")


@pytest.mark.parametrize(
    ("text", "rule", "fragment"),
    [
        ("name: a\n---\n", "frontmatter-missing", "must start with a '---' line"),
        ("---\nname: a\nbody\n", "frontmatter-unclosed", "not closed"),
        ("---\nname: a\n  nested: b\n---\nbody", "frontmatter-syntax", "frontmatter line 3"),
        ("---\ntags:\n  - a\n---\nbody", "frontmatter-syntax", "frontmatter line 3: in 'tags'"),
        ("---\ntags:\n---\nbody", "frontmatter-empty-value", "frontmatter line 2 (tags)"),
        ("---\nmetadata:\n  a: x\n    b: y\n---\nbody", "frontmatter-syntax", "indented like the first entry"),
        ("---\nmetadata:\n  a: x\n  a: y\n---\nbody", "frontmatter-duplicate-key", "metadata.a repeated"),
        ("---\nmetadata:\n  version: 1.0\n---\nbody", "frontmatter-not-a-string", "(metadata.version)"),
        ("---\nmetadata:\n  deep:\n    x: y\n---\nbody", "frontmatter-empty-value", "(metadata.deep)"),
        ("---\nname: a\nname: b\n---\nbody", "frontmatter-duplicate-key", "key 'name' repeated"),
        ("---\nname:a\n---\nbody", "frontmatter-syntax", "expected 'key: value'"),
    ],
)
def test_frontmatter_refused(text: str, rule: str, fragment: str) -> None:
    with pytest.raises(SkillValidationError) as caught:
        split_frontmatter(text, "s/SKILL.md")
    assert caught.value.rule == rule
    assert caught.value.source == "s/SKILL.md"
    assert fragment in str(caught.value)
