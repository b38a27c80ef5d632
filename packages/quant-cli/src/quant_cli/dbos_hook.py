"""What the run commands show and do with DBOS, when quant-flows-dbos is installed.

`quant runs list` marks the runs DBOS still holds as pending, `quant runs show` gives DBOS's
workflow state next to quant's, `quant runs cancel` cancels a pending workflow, and `quant runs
resume` offers to continue a run another version of quant left pending. quant_flows_dbos (and
DBOS) is imported only when a run at hand ran on it, so other commands never pay for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from quant_core.errors import ParamValidationError
from quant_core.records import RunManifest
from rich.text import Text

from quant_cli import render
from quant_cli.options import DbosDatabaseUrlOption
from quant_cli.output import emit
from quant_cli.run_ids import resolve_run_id
from quant_cli.state import CliState, get_state

PACKAGE = "quant_flows_dbos"
EXECUTOR = "dbos"
ACCEPT_FLAG = "--accept-version-change"

AcceptVersionChangeOption = Annotated[
    bool,
    typer.Option(
        ACCEPT_FLAG,
        help="Continue a DBOS run that another version of quant left pending, under this version "
        "(the steps it finished are kept and run nothing).",
    ),
]


def _operations(manifests: Iterable[RunManifest]) -> Any | None:
    """quant_flows_dbos.operations, if one of `manifests` ran on DBOS and the package is here."""
    if not any(m.executor == EXECUTOR for m in manifests) or importlib.util.find_spec(PACKAGE) is None:
        return None
    return importlib.import_module(f"{PACKAGE}.operations")


def add_run_states(state: CliState, summaries: list[dict[str, Any]], manifests: list[RunManifest], database_url: str | None) -> None:
    """Put DBOS's state (`engine_state`) into the summaries of the runs that ran on DBOS."""
    operations = _operations(manifests)
    if operations is None:
        return
    states = operations.workflow_states(state.sdk().home, manifests, database_url)
    for summary in summaries:
        found = states.get(summary["run_id"])
        if found is not None:
            summary["engine_state"] = {"engine": EXECUTOR, **found}


def add_show_state(state: CliState, document: dict[str, Any], database_url: str | None) -> None:
    """Put DBOS's state of the shown run (and its sleeves) into `quant runs show`'s document."""
    manifest = RunManifest.model_validate(document["manifest"])
    operations = _operations([manifest])
    if operations is None:
        return
    sdk = state.sdk()
    sleeves = [sdk.record(s["run_id"]).read_manifest() for s in document["sleeves"]]
    states = operations.workflow_states(sdk.home, [manifest, *sleeves], database_url)
    if manifest.run_id in states:
        document["engine_state"] = {"engine": EXECUTOR, **states[manifest.run_id]}
    for sleeve in document["sleeves"]:
        if sleeve["run_id"] in states:
            sleeve["engine_state"] = {"engine": EXECUTOR, **states[sleeve["run_id"]]}


def cancel_run(
    ctx: typer.Context,
    run_id: Annotated[
        str, typer.Argument(metavar="RUN", help="Run id, or a unique prefix or short id of one (see `quant runs list`)."),
    ],
    dbos_database_url: DbosDatabaseUrlOption = None,
) -> None:
    """Cancel a run's pending DBOS workflow (and its pending sleeves). What it finished is kept:
    `quant runs resume RUN` continues it."""
    state = get_state(ctx)
    sdk = state.sdk()
    run_id = resolve_run_id(sdk, run_id)
    manifest = sdk.record(run_id).read_manifest()
    operations = _operations([manifest])
    if operations is None:
        raise ParamValidationError(
            f"run {run_id!r} ran on executor {manifest.executor!r}: only a DBOS run's workflow can be "
            f"cancelled (a DBOS run needs quant-flows-dbos installed)",
            param="run_id", value=run_id, rule="dbos-run",
        )
    after = operations.cancel_run(sdk.home, manifest, dbos_database_url)
    emit(state, {"run_id": run_id, "engine_state": {"engine": EXECUTOR, **after}}, render.run_cancelled)


def offers_version_change(state: CliState, error: BaseException) -> bool:
    """Whether `error` says a DBOS run is pending under another version and the user, asked on a
    terminal, wants it continued under this one."""
    module = sys.modules.get(f"{PACKAGE}.errors")
    if module is None or not isinstance(error, module.VersionMismatchError):
        return False
    if state.json_output or not sys.stdin.isatty():
        return False
    state.err.print(Text(str(error)), soft_wrap=True)
    return typer.confirm(f"Continue run {error.run_id} under this version?", default=False, err=True)
