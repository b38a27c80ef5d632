"""The run commands on a DBOS run a crash left behind: `quant runs list` marks it pending, `show`
gives DBOS's state next to quant's, `cancel` cancels the workflow, `resume` continues it (and names
the flag that continues a run another version of quant left pending)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quant_cli.app import build_app
from quant_core.records import installed_versions
from typer.testing import CliRunner, Result

RUN = "held"
SLEEVES = ["alpha", "beta", "gamma"]


def crash(kit, home: Path, database_url: str, tmp_path: Path, versions: dict[str, str] | None = None) -> None:
    kit.run_child(
        {
            "action": "run", "home": str(home), "database_url": database_url, "registry": "toy",
            "pipeline": "toy.meta", "profile": "trio", "run_id": RUN, "versions": versions,
            "kill": {"stage": "toy.scale", "run_id": f"{RUN}.beta"}, "marker": str(tmp_path / "killed"),
            "log": str(tmp_path / "executions.log"),
        },
        expect_killed=True,
    )


def cli(kit, home: Path, *args: str, versions: dict[str, str] | None = None) -> Result:
    def factory(resolved: Any) -> Any:
        return kit.toy_sdk(resolved, versions=versions)

    return CliRunner().invoke(build_app(factory), ["--home", str(home), *args], env={"COLUMNS": "200"})


def test_list_show_cancel_and_resume_a_run_dbos_holds(kit, sqlite_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    crash(kit, home, sqlite_url, tmp_path)
    url = ["--dbos-database-url", sqlite_url]

    listed = json.loads(cli(kit, home, "runs", "list", "--json", *url).stdout)["runs"]
    assert [(r["run_id"], r["status"], r["engine_state"]["status"], r["engine_state"]["pending"]) for r in listed] == [
        (RUN, "interrupted", "PENDING", True)
    ]
    assert "interrupted (dbos: pending)" in cli(kit, home, "runs", "list", *url).stdout

    shown = json.loads(cli(kit, home, "runs", "show", RUN, "--json", *url).stdout)
    assert shown["engine_state"]["status"] == "PENDING"
    assert {s["run_id"]: s["engine_state"]["status"] for s in shown["sleeves"]} == {
        f"{RUN}.alpha": "SUCCESS", f"{RUN}.beta": "PENDING"
    }
    assert "interrupted (dbos: pending)" in cli(kit, home, "runs", "show", RUN, *url).stdout

    cancelled = cli(kit, home, "runs", "cancel", RUN, "--json", *url)
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["engine_state"]["status"] == "CANCELLED"
    assert "(dbos: cancelled)" in cli(kit, home, "runs", "list", *url).stdout
    again = cli(kit, home, "runs", "cancel", RUN, "--json", *url)
    assert again.exit_code == 2 and "not pending" in json.loads(again.stdout)["error"]["message"]

    resumed = cli(kit, home, "runs", "resume", RUN, "--json", *url)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    counts = kit.ledger_counts(kit.toy_sdk(home), [RUN, *(f"{RUN}.{s}" for s in SLEEVES)])
    assert len(counts) == 2 + 3 * 3 and all(statuses == ["succeeded"] for statuses in counts.values())
    assert json.loads(cli(kit, home, "runs", "list", "--json", *url).stdout)["runs"][0]["engine_state"]["status"] == "SUCCESS"


def test_cancel_is_for_dbos_runs(kit, tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli(kit, home, "pipeline", "run", "toy.portfolio", "--profile", "small", "--run-id", "local-run", "--json")
    refused = cli(kit, home, "runs", "cancel", "local-run", "--json")
    assert refused.exit_code == 2
    assert "ran on executor 'local'" in json.loads(refused.stdout)["error"]["message"]


def test_resume_names_a_version_change_and_continues_when_accepted(kit, sqlite_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    old, new = ({**installed_versions(), "quant-core": version} for version in ("0.0.9", "0.1.0"))
    crash(kit, home, sqlite_url, tmp_path, versions=old)
    url = ["--dbos-database-url", sqlite_url]

    refused = cli(kit, home, "runs", "resume", RUN, "--json", *url, versions=new)
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["type"] == "VersionMismatchError" and "--accept-version-change" in error["message"]

    accepted = cli(kit, home, "runs", "resume", RUN, "--accept-version-change", "--json", *url, versions=new)
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["status"] == "succeeded"
