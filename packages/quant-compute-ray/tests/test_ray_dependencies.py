"""quant-compute-ray finds stages and pipelines only through the registry it is handed: importing it
(and building its executor) never imports quant_stages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "quant_compute_ray"


def test_importing_the_backend_imports_no_stages():
    script = (
        "import json, sys\n"
        "import quant_compute_ray, quant_compute_ray.executor\n"
        "from quant_core.testing import toy_registry\n"
        "from quant_core import QuantHome, Runtime\n"
        "engine = quant_compute_ray.executor.factory(Runtime(home=QuantHome.resolve('.'), registry=toy_registry()))\n"
        "print(json.dumps({'engine': type(engine).__name__, 'ray': 'ray' in sys.modules,\n"
        "                  'stages': sorted(m for m in sys.modules if m.split('.')[0] == 'quant_stages')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"engine": "RayComputeEngine", "ray": True, "stages": []}


def test_no_module_of_the_backend_names_quant_stages():
    offenders = [p.name for p in sorted(SOURCE.glob("*.py")) if "quant_stages" in p.read_text(encoding="utf-8")]
    assert offenders == []
    assert len(list(SOURCE.glob("*.py"))) >= 8  # the folder really is the package's source
