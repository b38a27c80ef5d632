"""Any run that makes an HTML report gets it exported to runs/<run_id>/report.html, whichever
command ran it (not only `quant demo`)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

QUANT = Path(sys.executable).parent / "quant"


@pytest.mark.skipif(importlib.util.find_spec("quant_stages") is None, reason="needs quant-stages (not in `nox -s cli`)")
def test_pipeline_run_of_meta_full_exports_the_report(tmp_path: Path) -> None:
    assert QUANT.is_file(), "run `uv sync` to install the quant console script"
    profile = tmp_path / "home" / "profiles" / "tiny.toml"
    profile.parent.mkdir(parents=True)
    sleeve = (
        '[data]\ndataset = "synthetic"\nparams = { seed = 5, n_assets = 30, n_days = 500, asset_classes = ["equity"] }\n'
        '[stages."selection.policy"]\nmin_history = 100\n'
        '[stages."allocation.backtest"]\ntrain = 200\ntest = 50\n'
    )
    (profile.parent / "tiny_sleeve.toml").write_text(sleeve)
    profile.write_text(
        '[profile]\nkind = "meta"\n'
        '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
        '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
        '[sleeves.stages."allocation.optimize"]\nengine = "inverse_volatility"\n'
    )
    environ = {**os.environ, "QUANT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [str(QUANT), "pipeline", "run", "meta.full", "--profile", "tiny", "--json"],
        capture_output=True, text=True, env=environ, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    path = Path(document["report_path"])
    assert path == Path(document["record"]) / "report.html"
    assert path.read_text().startswith("<!DOCTYPE html>")
