"""Issue point 1: quant-core depends on pydantic and jsonschema only."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

HEAVY_MODULES = ("numpy", "pandas", "ray", "prefect", "dbos")

_PROBE = """
import json, sys, tempfile
import quant_core
from quant_core import ProfileCatalog, QuantSDK
from quant_core.testing import toy_profiles, toy_registry

sdk = QuantSDK(home=tempfile.mkdtemp(), registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))
result = sdk.run_pipeline("toy.meta", profile="trio", run_id="probe")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"heavy": heavy, "weights": result.context.meta_weights}}))
"""


def test_importing_and_running_a_pipeline_imports_no_heavy_library(tmp_path: Path) -> None:
    # A fresh interpreter: the test process itself has numpy loaded by other packages' tests.
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=set(HEAVY_MODULES))],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    report = json.loads(completed.stdout)
    assert report["heavy"] == []
    # The pipeline really ran: small sleeves sum 2*(0+1+2) = 6, the large one 0.5*(0+...+7) = 14.
    assert report["weights"] == {"alpha": 6 / 26, "beta": 14 / 26, "gamma": 6 / 26}


def test_declared_dependencies_are_pydantic_and_jsonschema_only() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    names = sorted(dep.split(">")[0].split("=")[0].split("<")[0].strip() for dep in project["dependencies"])
    assert names == ["jsonschema", "pydantic"]
