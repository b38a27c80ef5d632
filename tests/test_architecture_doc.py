"""docs/architecture.md stays true to the code: the names it lists are the code's names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quant_core import entrypoints, errors
from quant_core.records import RunRecord

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def table_rows(heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table whose header's first cell is `heading`."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {heading} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_package_it_lists_exists_with_its_module() -> None:
    listed = re.findall(r"^  (quant-[a-z-]+)/\s+(quant_\w+)", DOC, flags=re.MULTILINE)
    assert len(listed) == 6
    for package, module in listed:
        assert (ROOT / "packages" / package / "src" / module).is_dir(), package
    assert (ROOT / "skills" / "src" / "quant_skills").is_dir()


def test_the_entry_point_groups_are_cores() -> None:
    groups = {code_names(row[0])[0] for row in table_rows("group")}
    assert groups == {
        entrypoints.STAGES_GROUP, entrypoints.PIPELINES_GROUP, entrypoints.EXECUTORS_GROUP,
        entrypoints.DATASETS_GROUP, entrypoints.PROFILES_GROUP,
    }


def test_the_record_files_are_the_records() -> None:
    record = RunRecord(ROOT, "probe")
    files = {code_names(row[0])[0] for row in table_rows("file")}
    assert files == {record.manifest_path.name, record.ledger_path.name, record.contexts_path.name}


def test_each_error_has_the_exit_code_it_is_listed_under() -> None:
    for row in table_rows("exit code"):
        code = int(row[0])
        for name in (n for n in code_names(row[1]) if n.endswith("Error")):
            error = getattr(errors, name)
            assert error.exit_code == code, name


def test_the_stages_and_pipelines_are_the_registered_ones() -> None:
    pytest.importorskip("quant_stages")
    from quant_core.registry import StageRegistry

    registry = StageRegistry.default()
    assert {code_names(row[0])[0] for row in table_rows("stage")} == {s.id for s in registry.list_stages()}
    assert {code_names(row[0])[0] for row in table_rows("pipeline")} == {p.id for p in registry.list_pipelines()}
