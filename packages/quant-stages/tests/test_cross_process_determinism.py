"""The same meta pipeline in two processes with different hash seeds gives the same output hash at
every stage of every sleeve: the cache is shared across runs and processes, so a stage whose
output depended on set or dict order, on the process or on the clock would poison it. (The
idempotency property runs both attempts in one process and cannot see that.)"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 3, n_assets = 24, n_days = 500 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "tiny_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "tiny_sleeve"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from quant_core import QuantSDK
    sdk = QuantSDK(home=sys.argv[1])
    result = sdk.run_pipeline("meta.full", profile="tiny_meta", run_id="same")
    hashes = {}
    for run_id in ["same", *[r.run_id for r in sdk.expanded(result.context).sleeve_results]]:
        for entry in sdk.record(run_id).read_ledger():
            hashes[f"{run_id}/{entry.stage_id}"] = [entry.output_hash, entry.cache_hit]
    print(json.dumps(hashes))
    """
)


def _run(home: Path, hash_seed: str) -> dict[str, list]:
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "tiny_sleeve.toml").write_text(SLEEVE)
    (home / "profiles" / "tiny_meta.toml").write_text(META)
    environ = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(home)], capture_output=True, text=True, env=environ, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_stage_output_hash_is_the_same_in_another_process(tmp_path: Path) -> None:
    first = _run(tmp_path / "one", "1")
    second = _run(tmp_path / "two", "2")
    assert first == second
    stages = {key.split("/", 1)[1] for key in first}
    assert {"selection.ingestion", "allocation.backtest", "meta.returns", "meta.report"} <= stages
    # sleeve a is computed in each home (sleeve b may reuse its selection stages: same inputs)
    computed = [cache_hit for key, (_, cache_hit) in first.items() if key.startswith("same.a/")]
    assert len(computed) == 8 and not any(computed)
