"""`quant store verify | gc`: check everything under $QUANT_HOME, and clean what nothing uses."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from quant_core.store import collect_garbage, parse_age, verify_store
from rich.console import Console
from rich.table import Table

from quant_cli import render
from quant_cli.output import emit
from quant_cli.state import get_state

#: `quant store verify` exit status when it found damage (the README's "4": something failed).
DAMAGED_EXIT_CODE = 4


def verify(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Remove damaged artifacts and cache entries, so the next run computes them again "
            "(run records are reported, never rewritten).",
        ),
    ] = False,
) -> None:
    """Check every artifact (its bytes against its name), cache entry (its checksum and the
    artifacts it names) and run record (manifest, ledger and context lines, exported report).
    Exit 0 when clean, 4 when anything is damaged."""
    state = get_state(ctx)
    report = verify_store(state.home, repair=repair)
    emit(state, report.to_json(), draw_verify)
    if not report.clean:
        raise typer.Exit(DAMAGED_EXIT_CODE)


def gc(
    ctx: typer.Context,
    keep_runs: Annotated[
        int | None,
        typer.Option("--keep-runs", metavar="N", min=0, help="Remove all but the N newest runs (a meta run counts with its sleeves)."),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", metavar="AGE", help="Remove runs that ended longer ago than AGE (90m, 12h, 30d, 2w)."),
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Remove the files (without it: a dry run that lists them).")] = False,
) -> None:
    """Remove runs by count or age (never a running one), the cache entries only those runs used,
    and every artifact no kept run or cache entry references, plus temp files of interrupted
    writes. A dry run unless --apply; sizes are reported either way."""
    state = get_state(ctx)
    age = parse_age(older_than) if older_than is not None else None
    report = collect_garbage(state.home, keep_runs=keep_runs, older_than=age, apply=apply)
    emit(state, report.to_json(), draw_gc)


def draw_verify(console: Console, document: dict[str, Any]) -> None:
    checked = document["checked"]
    # The path on a line of its own, kept whole (copyable); the counts fit an 80-column terminal.
    render.line(console, f"store: {document['root']}")
    render.line(
        console,
        f"checked {checked['artifacts']} artifact(s), {checked['cache_entries']} cache entr(y/ies), "
        f"{checked['runs']} run(s)",
    )
    findings = document["findings"]
    if findings:
        table = Table(title=f"{len(findings)} finding(s)", title_justify="left")
        for name in ("kind", "file", "line", "what was found", "repaired"):
            table.add_column(name, overflow="fold")
        for finding in findings:
            table.add_row(
                finding["kind"], finding["path"], render.fmt_value(finding["line"]),
                finding["reason"] + (" (torn by a crash; dropped when the run resumes)" if finding["torn"] else ""),
                "removed" if finding["removed"] else "",
            )
        console.print(table)
    if document["clean"]:
        render.line(console, "clean" if not findings else "clean (only torn last lines, which resume drops)")
    else:
        hint = "" if document["repaired"] else " (`quant store verify --repair` removes damaged artifacts and cache entries)"
        render.say(console, f"damaged: {document['damaged']} file(s){hint}")


def draw_gc(console: Console, document: dict[str, Any]) -> None:
    totals = document["removed" if document["applied"] else "would_remove"]
    verb = "removed" if document["applied"] else "would remove"
    if totals:
        table = Table(title=f"{verb}: {fmt_bytes(document['bytes'])}", title_justify="left")
        for name in ("kind", "count", "size"):
            table.add_column(name, justify="left" if name == "kind" else "right")
        for kind, total in sorted(totals.items()):
            table.add_row(kind, str(total["count"]), fmt_bytes(total["bytes"]))
        console.print(table)
    else:
        render.line(console, "nothing to remove")
    kept = document["kept"]
    render.line(
        console,
        f"kept: {kept.get('runs', 0)} run(s), {kept.get('cache_entries', 0)} cache entr(y/ies), "
        f"{kept.get('artifacts', 0)} artifact(s), {fmt_bytes(document['kept_bytes'])} in the store",
    )
    for path in document["skipped"]:
        render.line(console, f"kept, damaged (its age cannot be read): {path}")
    if totals and not document["applied"]:
        render.line(console, "dry run: nothing was removed (add --apply to remove these)")


def fmt_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def build() -> typer.Typer:
    app = typer.Typer(help="Check and clean the store ($QUANT_HOME: runs, artifacts, cache).", no_args_is_help=True)
    app.command("verify")(verify)
    app.command("gc")(gc)
    return app
