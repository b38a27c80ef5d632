"""Every run ends with its results, in the JSON and on screen, sized to the terminal.

The toy stages give known answers for the data; the rendering is checked at 80 and 160 columns
through Rich's console width, on toy runs and on a results document shaped like the demo's.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console

from quant_cli import render
from quant_cli.results_view import draw_results
from quant_cli.summary import CALENDAR_NOTE

NARROW, WIDE = 80, 160
#: Lines that are never wrapped on purpose, so that they stay copyable.
COPYABLE = ("run id:", "record:", "report:")

METRICS = {
    "periods": 504.0, "total_return": 1.1044, "cagr": 0.4507, "annualized_volatility": 0.1031, "sharpe": 3.6623,
    "sortino": 6.3438, "max_drawdown": -0.09, "calmar": 5.0059, "hit_rate": 0.5933, "total_turnover": None,
    "total_costs": None,
}
DEMO_LIKE_RESULTS: dict[str, Any] = {
    "view": "meta",
    "stage": None,
    "sleeve_figures": "common_calendar",
    "metrics": METRICS,
    "period": {"start": "2022-12-12T00:00:00+00:00", "end": "2024-11-20T00:00:00+00:00", "dates": 504},
    "sleeves": [
        {
            "name": name, "profile": f"demo_{name}", "status": "succeeded", "run_id": f"meta.full-20261202T005825Z-5cbff2.{name}",
            "weight": weight, "metrics": METRICS | {"sharpe": sharpe}, "own_metrics": {"sharpe": own},
        }
        for name, weight, sharpe, own in (("equities", 0.488, 1.1734, 1.1734), ("crypto", 0.1118, 2.5076, 2.52), ("mixed", 0.4002, 2.72, 2.08))
    ],
    "top_assets": [
        {"symbol": f"NASDAQ:SYM{i:02d}", "net_weight": 0.1 - i * 0.005, "direction": "long", "sleeves": 1} for i in range(15)
    ],
    "notes": [CALENDAR_NOTE],
}


def rendered(draw, document: Any, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    draw(console, document)
    return console.file.getvalue().splitlines()


def assert_fits(lines: list[str], width: int) -> None:
    too_wide = [line for line in lines if len(line) > width and not line.startswith(COPYABLE)]
    assert too_wide == []


def row(lines: list[str], first: str) -> list[str]:
    return next(line.split() for line in lines if line.split()[:1] == [first])


def header(lines: list[str], starts: str) -> str:
    return next(line for line in lines if line.startswith(starts))


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_meta_results_fit_the_terminal_and_keep_what_matters(width: int) -> None:
    lines = rendered(draw_results, DEMO_LIKE_RESULTS, width)
    assert_fits(lines, width)
    columns = header(lines, "sleeve ").split()
    assert columns[:4] == ["sleeve", "weight", "sharpe", "cagr"]  # never dropped
    assert "turnover" not in columns and "costs" not in columns  # empty in every row: left out
    assert row(lines, "equities")[1:3] == ["48.8%", "1.17"]
    assert row(lines, "meta-portfolio")[1:4] == ["100.0%", "3.66", "45.1%"]
    assert any(line.startswith("note: sleeve rows are measured on the common calendar") for line in lines)
    assert "NASDAQ:SYM00" in "\n".join(lines) and "NASDAQ:SYM10" not in "\n".join(lines)  # top 10 of 15
    assert not any("…" in line for line in lines)  # no figure or name is cut


def test_a_wide_terminal_shows_every_column_a_narrow_one_drops_by_priority() -> None:
    wide = header(rendered(draw_results, DEMO_LIKE_RESULTS, WIDE), "sleeve ").split()
    narrow = header(rendered(draw_results, DEMO_LIKE_RESULTS, NARROW), "sleeve ").split()
    assert {"sortino", "calmar", "hit", "own"} <= set(wide)
    assert set(narrow) < set(wide)
    assert "calmar" not in narrow  # priority 4 goes before...
    assert "vol" in narrow and "own" in narrow  # ...priority 2


def test_the_backtests_assumptions_go_in_the_period_line_not_in_the_metrics_table() -> None:
    """The delisting return is an assumption of the backtest (a parameter), like its costs: said
    once with the period, never a column of figures beside the Sharpe ratio."""
    backtest = METRICS | {
        "start": "2020-12-11T00:00:00+00:00", "end": "2025-10-23T00:00:00+00:00", "periods": 1260.0,
        "windows": 20, "cost_bps": 10.0, "delistings": 2, "delisting_return": -0.3,
    }
    lines = rendered(draw_results, {"view": "portfolio", "metrics": backtest}, WIDE)
    assert lines[0] == (
        "out-of-sample metrics (2020-12-11 to 2025-10-23 · 1260 periods · 20 walk-forward windows · "
        "costs 10 bps · 2 delisted holdings closed at -30%)"
    )
    assert "delisting" not in header(lines, "sharpe ")
    none_delisted = rendered(draw_results, {"view": "portfolio", "metrics": backtest | {"delistings": 0}}, WIDE)
    assert "delisted" not in none_delisted[0] and "delisting" not in header(none_delisted, "sharpe ")


def test_clusters_are_listed_largest_first_so_a_cut_line_keeps_the_biggest() -> None:
    sizes = {f"c{i:02d}": size for i, size in enumerate([5, 15, 3, 14, 19, 19, 17, 4, 16, 2, 8, 6], start=1)}
    selection = {"clusters": {"count": len(sizes), "sizes": sizes}}
    (line,) = rendered(draw_results, {"view": "selection", "selection": selection}, NARROW)
    assert line == "clusters (12, largest first): c05 19, c06 19, c07 17, c09 16, c02 15 … +7"  # cut at 80 columns


def toy_document(cli, *args: str) -> dict[str, Any]:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_portfolio_run_gives_metrics_and_selection(cli) -> None:
    document = toy_document(cli, "pipeline", "run", "toy.portfolio", "--profile", "small")
    results = document["results"]
    assert results["view"] == "portfolio"
    assert results["metrics"] == {"total": 6.0}
    assert results["selection"] == {"winners": ["N0", "N1", "N2"]}
    for width in (NARROW, WIDE):
        lines = rendered(render.run_result, document, width)
        assert_fits(lines, width)
        tail = lines[lines.index(next(line for line in lines if line.startswith("out-of-sample metrics"))):]
        assert tail[-1] == "winners (3): N0, N1, N2"  # the last thing on screen
        assert row(tail, "6") == ["6"]


def test_a_meta_run_gives_sleeves_weights_and_their_own_figures(cli) -> None:
    document = toy_document(cli, "pipeline", "run", "toy.meta", "--profile", "trio")
    results = document["results"]
    assert results["view"] == "meta"
    assert results["sleeve_figures"] == "own"  # no report: each sleeve's own backtest
    assert [(s["name"], round(s["weight"], 4), s["metrics"]) for s in results["sleeves"]] == [
        ("alpha", 0.2308, {"total": 6.0}), ("beta", 0.5385, {"total": 14.0}), ("gamma", 0.2308, {"total": 6.0}),
    ]
    assert results["notes"] == []  # no report, no calendar to explain


def test_a_stage_run_gives_what_its_outputs_declare(cli) -> None:
    document = toy_document(cli, "stage", "run", "toy.seed", "-p", "n=4")
    results = document["results"]
    assert (results["view"], results["stage"]) == ("stage", "toy.seed")
    numbers = results["outputs"]["numbers"]
    assert numbers["artifact"] == "application/json" and numbers["size"] > 0
    lines = rendered(render.run_result, document, NARROW)
    assert lines[-1].startswith("numbers: artifact application/json, ")


def test_runs_show_ends_with_the_same_results(cli) -> None:
    run = toy_document(cli, "pipeline", "run", "toy.portfolio", "--profile", "large", "--run-id", "shown")
    shown = toy_document(cli, "runs", "show", "shown")
    assert shown["results"] == run["results"]
    human = cli("runs", "show", "shown").stdout.splitlines()
    assert human[-1] == "winners (8): N0, N1, N2, N3, N4, N5, N6, N7"


def test_the_meta_table_says_why_report_figures_differ_from_a_sleeves_backtest(cli) -> None:
    document = toy_document(cli, "demo", "--pipeline", "test.meta_report", "--profile", "trio")
    results = document["results"]
    assert results["sleeve_figures"] == "common_calendar"
    beta = next(s for s in results["sleeves"] if s["name"] == "beta")
    assert beta["own_metrics"] == {"total": 14.0}  # the sleeve's own backtest...
    assert beta["metrics"] == {"total": pytest.approx(53.8462, abs=1e-4)}  # ...and the report's figure
    # The note goes with the "own sharpe" column, shown when the sleeves' backtests have a Sharpe
    # (the demo's do: see DEMO_LIKE_RESULTS); the toy's have only a total.
    assert results["notes"] == []
    lines = rendered(draw_results, DEMO_LIKE_RESULTS, NARROW)
    notes = [line for line in lines if line.startswith("note:")]
    assert len(notes) == 1 and "common calendar" in notes[0] and "own calendar" in " ".join(lines[lines.index(notes[0]):])


def test_long_lists_end_with_how_many_more(cli) -> None:
    document = toy_document(cli, "pipeline", "run", "toy.portfolio", "-p", "n=60", "--run-id", "many")
    lines = rendered(render.run_result, document, NARROW)
    winners = lines[-1]
    assert winners.startswith("winners (60): N0, N1, ") and winners.endswith(tuple(f"+{n}" for n in range(1, 60)))
    assert len(winners) <= NARROW
    wide = rendered(render.run_result, document, WIDE)[-1]
    assert len(wide) > len(winners)  # more names where there is room


def test_runs_show_of_a_failed_run_says_its_results_are_partial(cli, tmp_path) -> None:
    marker = tmp_path / "closed"
    marker.write_text("closed")
    assert cli("pipeline", "run", "test.gated", "--run-id", "half", "-p", f"test.gate.marker={marker}").exit_code == 4
    shown = cli("runs", "show", "half").stdout.splitlines()
    assert "results of the steps it finished (the run failed):" in shown
    assert shown[-1].startswith("numbers: artifact application/json")  # what toy.seed produced
