"""Issue 12 at the command line: damaged state files are named and the rest listed, a run id runs
once at a time (exit 2), `quant store verify` / `quant store gc`, and a cached re-run stores no
second copy of its report."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from quant_core import ProfileCatalog, QuantSDK
from quant_core.errors import DataValidationError
from quant_core.profiles import ResolvedProfile
from quant_core.testing import WaitForFile, toy_profiles, toy_registry
from typer.testing import CliRunner, Result

from quant_cli import progress
from quant_cli.app import build_app

TOY_DEMO = ("demo", "--pipeline", "toy.meta", "--profile", "trio")
REPORT_DEMO = ("demo", "--pipeline", "test.meta_report", "--profile", "trio")


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# -- listings: the damaged named, the rest listed --------------------------------------------------


def test_runs_list_names_a_garbage_manifest_and_lists_the_other_runs(cli, home: Path) -> None:
    cli(*TOY_DEMO, "--run-id", "good", "--json")
    cli("stage", "run", "toy.noop", "--run-id", "bad", "--json")
    manifest = home / "runs" / "bad" / "manifest.json"
    manifest.write_bytes(b"\x00 not a manifest")

    listed = cli("runs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    document = _json(listed)
    assert [r["run_id"] for r in document["runs"]] == ["good"]
    (damaged,) = document["damaged"]
    assert damaged["path"] == str(manifest)

    drawn = cli("runs", "list")
    assert drawn.exit_code == 0 and "1 damaged run(s)" in drawn.stdout and "good" in drawn.stdout
    assert "manifest.json" in drawn.stdout

    # A run id prefix still names the readable run (issue 15's prefixes over issue 12's damage).
    shown = cli("runs", "show", "good.al", "--json")
    assert shown.exit_code == 0, shown.output
    assert _json(shown)["run_id"] == "good.alpha"


def test_runs_show_names_a_garbage_sleeve_ledger_line_and_resume_still_works(cli, home: Path) -> None:
    cli(*TOY_DEMO, "--run-id", "meta", "--json")
    ledger = home / "runs" / "meta.alpha" / "ledger.jsonl"
    lines = ledger.read_bytes().split(b"\n")
    lines.insert(1, b"\xff garbage")
    ledger.write_bytes(b"\n".join(lines))

    shown = cli("runs", "show", "meta", "--json")
    assert shown.exit_code == 0, shown.output
    (damaged,) = _json(shown)["damaged"]
    assert (damaged["path"], damaged["line"], damaged["torn"]) == (str(ledger), 2, False)
    assert [len(s["ledger"]) for s in _json(shown)["sleeves"]] == [3, 3, 3]
    assert "1 damaged record file or line(s)" in cli("runs", "show", "meta").stdout

    assert cli("runs", "resume", "meta.alpha", "--json").exit_code == 0  # a sleeve run on its own
    resumed = cli("runs", "resume", "meta", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert _json(resumed)["status"] == "succeeded"


class _ProfilesWithABrokenFile:
    """The toy profiles plus `broken`, whose file does not parse (as the TOML provider says)."""

    def __init__(self, path: Path) -> None:
        self.toy = toy_profiles()
        self.path = path

    def names(self, home: Any) -> list[str]:
        return [*self.toy.names(home), "broken"]

    def resolve(self, name: str, home: Any) -> ResolvedProfile | None:
        if name == "broken":
            raise DataValidationError("not valid TOML: Expected ']' (at line 1, column 8)", source=str(self.path), rule="invalid-toml")
        return self.toy.resolve(name, home)


def test_profile_list_names_a_broken_profile_file_and_lists_the_others(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    profiles = _ProfilesWithABrokenFile(broken)
    app = build_app(lambda h: QuantSDK(home=h, registry=toy_registry(), profiles=ProfileCatalog([profiles])))
    listed = CliRunner().invoke(app, ["--home", str(home), "profile", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    document = _json(listed)
    assert [p["name"] for p in document["profiles"]] == ["large", "small", "trio"]
    (damaged,) = document["damaged"]
    assert (damaged["name"], damaged["path"]) == ("broken", str(broken))
    assert "not valid TOML" in damaged["reason"]


# -- a run id runs once at a time; a killed run is interrupted ------------------------------------


def test_a_second_start_of_a_running_run_id_exits_2(home: Path, tmp_path: Path) -> None:
    def factory(resolved_home: Any) -> QuantSDK:
        registry = toy_registry()
        registry.register(WaitForFile)
        return QuantSDK(home=resolved_home, registry=registry, profiles=ProfileCatalog([toy_profiles()]))

    release = tmp_path / "release"
    args = ["--home", str(home), "stage", "run", "toy.wait", "-p", f"release={release}", "--run-id", "twice", "--json"]
    outcome: dict[str, Result] = {}
    first = threading.Thread(target=lambda: outcome.update(first=CliRunner().invoke(build_app(factory), args)))
    first.start()
    try:
        deadline = time.monotonic() + 120
        while not release.with_name("release.started").exists():
            assert time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.02)
        second = CliRunner().invoke(build_app(factory), args)
        assert second.exit_code == 2, second.output
        error = _json(second)["error"]
        assert (error["type"], error["exit_code"]) == ("RunLockedError", 2)
        assert error["message"].startswith("run 'twice' is already running (pid ")
        listed = CliRunner().invoke(build_app(factory), ["--home", str(home), "runs", "list", "--json"])
        assert [(r["run_id"], r["status"]) for r in _json(listed)["runs"]] == [("twice", "running")]
    finally:
        release.touch()
        first.join(120)
    assert outcome["first"].exit_code == 0, outcome["first"].output


# -- point 1 at the command line: a flipped report artifact --------------------------------------


def test_a_flipped_report_artifact_is_recomputed_and_its_export_is_not_a_second_copy(cli, home: Path) -> None:
    first = _json(cli(*REPORT_DEMO, "--run-id", "r1", "--json"))
    html = first["outputs"]["report"]["html"]
    artifact = home / "artifacts" / html["sha256"][:2] / html["sha256"]
    assert Path(first["report_path"]).stat().st_ino == artifact.stat().st_ino  # a link, not a copy

    second = cli(*REPORT_DEMO, "--run-id", "r2", "--json")
    assert _json(second)["cache_hits"] == _json(second)["stage_count"]
    assert (home / "runs" / "r2" / "report.html").stat().st_ino == artifact.stat().st_ino

    _flip_byte(artifact)
    third = cli(*REPORT_DEMO, "--run-id", "r3")
    assert third.exit_code == 0, third.output
    assert "redone" in third.stderr and str(artifact) in third.stderr.replace("\n", "")
    assert (home / "runs" / "r3" / "report.html").read_bytes() == artifact.read_bytes()


# -- quant store verify ---------------------------------------------------------------------------


def test_store_verify_is_clean_after_a_run(cli) -> None:
    cli(*REPORT_DEMO, "--run-id", "v1", "--json")
    verified = cli("store", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    document = _json(verified)
    assert document["clean"] and document["findings"] == []
    assert document["checked"]["runs"] == 4 and document["checked"]["artifacts"] > 0
    assert cli("store", "verify").stdout.rstrip().endswith("clean")


def test_store_verify_finds_every_kind_of_damage_and_repair_makes_the_next_run_recompute(cli, home: Path) -> None:
    first = _json(cli(*REPORT_DEMO, "--run-id", "v2", "--json"))
    html = first["outputs"]["report"]["html"]["sha256"]
    artifact = home / "artifacts" / html[:2] / html
    entry = next((home / "cache").rglob("*.json"))
    ledger = home / "runs" / "v2.beta" / "ledger.jsonl"
    _flip_byte(artifact)
    _flip_byte(entry)
    _flip_byte(ledger)

    verified = cli("store", "verify", "--json")
    assert verified.exit_code == 4
    document = _json(verified)
    kinds = {(f["kind"], f["path"]) for f in document["findings"]}
    assert {("artifact", str(artifact)), ("cache", str(entry)), ("run", str(ledger))} <= kinds
    assert ("run", str(home / "runs" / "v2" / "report.html")) in kinds  # the export is the same file
    assert not any(f["removed"] for f in document["findings"])

    repaired = cli("store", "verify", "--repair", "--json")
    assert repaired.exit_code == 4
    removed = {f["path"] for f in _json(repaired)["findings"] if f["removed"]}
    assert {str(artifact), str(entry)} <= removed and not artifact.exists() and not entry.exists()

    again = cli(*REPORT_DEMO, "--run-id", "v3", "--json")
    assert again.exit_code == 0, again.output
    assert artifact.exists() and _json(again)["cache_hits"] < _json(again)["stage_count"]
    remaining = {f["path"] for f in _json(cli("store", "verify", "--json"))["findings"]}
    assert str(artifact) not in remaining and str(entry) not in remaining


def test_store_verify_reports_a_torn_last_line_without_calling_it_damage(cli, home: Path) -> None:
    cli("stage", "run", "toy.noop", "--run-id", "torn", "--json")
    with (home / "runs" / "torn" / "ledger.jsonl").open("ab") as handle:
        handle.write(b'{"run_id":"torn","st')
    verified = cli("store", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    (finding,) = _json(verified)["findings"]
    assert (finding["torn"], finding["line"]) == (True, 2)


# -- quant store gc -------------------------------------------------------------------------------


def _age_everything(home: Path, seconds: float) -> None:
    """Files written by the test are seconds old; gc leaves files younger than an hour alone."""
    past = time.time() - seconds
    for path in home.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def test_store_gc_is_a_dry_run_that_reports_sizes_then_removes_with_apply(cli, home: Path) -> None:
    assert cli("pipeline", "run", "toy.meta", "--profile", "trio", "-p", "toy.seed.n=4", "--run-id", "old", "--json").exit_code == 0
    cli(*TOY_DEMO, "--run-id", "new", "--json")
    orphan = home / "artifacts" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody names me")
    _age_everything(home, 2 * 3600)

    dry = cli("store", "gc", "--keep-runs", "1", "--json")
    assert dry.exit_code == 0, dry.output
    document = _json(dry)
    assert document["applied"] is False and "would_remove" in document
    removed = {(r["kind"], Path(r["path"]).name) for r in document["removals"]}
    assert {("run", "old"), ("run", "old.alpha"), ("run", "old.beta"), ("run", "old.gamma")} <= removed
    assert ("artifact", orphan.name) in removed
    assert not any(name.startswith("new") for kind, name in removed if kind == "run")
    assert document["bytes"] == sum(r["size"] for r in document["removals"]) > 0
    assert (home / "runs" / "old").exists() and orphan.exists()  # a dry run
    assert "dry run: nothing was removed" in cli("store", "gc", "--keep-runs", "1").stdout

    applied = cli("store", "gc", "--keep-runs", "1", "--apply", "--json")
    assert applied.exit_code == 0 and _json(applied)["applied"] is True
    assert not (home / "runs" / "old").exists() and not orphan.exists()
    assert _json(cli("store", "verify", "--json"))["clean"]
    rerun = _json(cli(*TOY_DEMO, "--run-id", "after", "--json"))
    assert rerun["cache_hits"] == rerun["stage_count"]  # what the kept run uses is all there


def test_store_gc_never_removes_young_store_files_or_without_a_rule_any_run(cli, home: Path) -> None:
    cli(*TOY_DEMO, "--run-id", "fresh", "--json")
    assert _json(cli("store", "gc", "--older-than", "1h", "--json"))["removals"] == []  # ended just now
    document = _json(cli("store", "gc", "--keep-runs", "0", "--json"))
    # the runs go as asked; their artifacts and cache entries are younger than the grace hour
    assert {r["kind"] for r in document["removals"]} == {"run"}
    _age_everything(home, 2 * 3600)
    assert [r for r in _json(cli("store", "gc", "--json"))["removals"] if r["kind"] == "run"] == []


def test_store_gc_refuses_a_malformed_age(cli) -> None:
    result = cli("store", "gc", "--older-than", "soon", "--json")
    assert result.exit_code == 2
    assert "--older-than 'soon'" in _json(result)["error"]["message"]


def test_resuming_a_run_with_a_torn_ledger_line_shows_its_progress(cli, home: Path) -> None:
    cli("pipeline", "run", "toy.portfolio", "--run-id", "crashed", "--json")
    with (home / "runs" / "crashed" / "ledger.jsonl").open("ab") as handle:
        handle.write(b'{"run_id":"crashed","step":4,"sta')  # the crash cut this line short
    resumed = cli("runs", "resume", "crashed")
    assert resumed.exit_code == 0, resumed.output
    assert "progress display stopped" not in resumed.stderr
    assert resumed.stderr.count("cached") == 3


def test_a_damaged_ledger_line_found_by_the_last_poll_stops_the_display_not_the_command(
    cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("pipeline", "run", "toy.portfolio", "--run-id", "noisy", "--json")
    ledger = home / "runs" / "noisy" / "ledger.jsonl"
    real_poll = progress.LedgerFollower.poll

    def poll_meeting_garbage(self: progress.LedgerFollower) -> list:
        with ledger.open("ab") as handle:
            handle.write(b"garbage written by something else\n")
        return real_poll(self)

    monkeypatch.setattr(progress.LedgerFollower, "poll", poll_meeting_garbage)
    resumed = cli("runs", "resume", "noisy")
    assert resumed.exit_code == 0, resumed.output
    assert "progress display stopped" in resumed.stderr
