"""`quant worker dbos` as a test process: `python worker_child.py '<json spec>' <quant arguments>`.

The real command (quant_cli's app, its signal handling and exit) with the installed stages
(quant-stages), except that with `"hold": {"stage": ID, "run_id": RUN}` the stage ID logs each start
to `"log"` and, in run RUN (null: none), waits until the file `"release"` exists: a worker held inside a stage
for as long as the test needs (support.holding).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from quant_cli.app import build_app
from quant_core import QuantSDK
from quant_core.registry import StageRegistry

import support


def main(spec: dict, arguments: list[str]) -> None:
    registry = support.with_dbos(StageRegistry.from_entry_points())
    hold = spec.get("hold")
    if hold:
        stage = support.holding(
            registry.get(hold["stage"]).stage_class, hold["run_id"], Path(spec["log"]), Path(spec["release"])
        )
        registry = support.with_stage_replaced(registry, hold["stage"], stage)
    build_app(lambda home: QuantSDK(home=home, registry=registry))(arguments, prog_name="quant")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), sys.argv[2:])
