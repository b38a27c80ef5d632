"""A quant process of the DBOS tests: `python child.py '<json spec>'`.

It runs (`"action": "run"`) or resumes (`"resume"`) a pipeline on the dbos executor and prints one
JSON line with the outcome. With `"kill": {"stage": ID, "run_id": RUN}` the stage ID logs each
start to `"log"` and, in run RUN, SIGKILLs this process the first time (while `"marker"` is
absent; `"signal": "SIGINT"` in `"kill"` sends Ctrl-C's signal instead). `"registry"`: `"toy"` (quant-core's toy stages and the test stages) or `"entry_points"`
(the installed stages: quant-stages). `"versions"` replaces the installed package versions (a
quant upgrade between two processes).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from quant_core import QuantError, QuantSDK
from quant_core.registry import StageRegistry

import support


def main(spec: dict) -> dict:
    home = Path(spec["home"])
    if spec.get("registry") == "entry_points":
        registry = support.with_dbos(StageRegistry.from_entry_points())
        profiles = None
    else:
        registry = support.build_registry()
        profiles = support.build_profiles(gate_marker=spec.get("gate_marker"))
    kill = spec.get("kill")
    if kill:
        stage = support.killing(
            registry.get(kill["stage"]).stage_class, kill["run_id"], Path(spec["marker"]), Path(spec["log"]),
            getattr(signal, kill.get("signal", "SIGKILL")),
        )
        registry = support.with_stage_replaced(registry, kill["stage"], stage)
    if profiles is None:
        sdk = QuantSDK(home=home, registry=registry, versions=spec.get("versions"))
    else:
        sdk = support.toy_sdk(home, profiles, registry, versions=spec.get("versions"))
    options = {"dbos_database_url": spec["database_url"], "workers": spec.get("workers", 1)}
    try:
        if spec["action"] == "resume":
            result = sdk.resume(spec["run_id"], executor_options={"dbos_database_url": spec["database_url"]})
        else:
            result = sdk.run_pipeline(
                spec["pipeline"], profile=spec["profile"], run_id=spec["run_id"], executor="dbos",
                executor_options=options,
            )
    except QuantError as error:
        return {"error": type(error).__name__, "message": str(error), "exit_code": error.exit_code}
    return {"status": result.status, "context": result.context.model_dump(mode="json")}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
