#!/usr/bin/env bash
# Re-run one stage on the last context of an earlier run, starting from the params the stage ran
# with there, and print what the stage wrote.
#
#   usage: rerun-stage.sh RUN STAGE_ID [--param NAME=VALUE ...] [--force]
#   e.g.   rerun-stage.sh portfolio.full-20250101T000000Z-abc123 selection.clustering --param distance_threshold=0.3
#
# The stage starts from the params it ran with in RUN (or from the profile of RUN if it did not
# run there); the --param values go over them. On failure the quant error document is printed and the
# script exits with quant's exit code (2, 3 or 4).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $(basename "$0") RUN STAGE_ID [--param NAME=VALUE ...] [--force]" >&2
    exit 2
fi
command -v quant >/dev/null || { echo "error: the quant command is not on PATH (pip install quant-cli, or use uv run)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed to read the JSON" >&2; exit 1; }

run=$1
stage=$2
shift 2

# Runs `quant ARGS --json` into $QUANT_OUT; on failure prints the error document and exits with its code.
run_quant() {
    local status=0
    QUANT_OUT=$(quant "$@" --json) || status=$?
    if [ "$status" -ne 0 ]; then
        printf '%s\n' "$QUANT_OUT"
        exit "$status"
    fi
}

run_quant runs show "$run"  # a clear exit 3 for an unknown run before anything else
run_quant stage schema "$stage"
writes=$(python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["output_schema"].get("properties", {}))))' <<<"$QUANT_OUT")

run_quant stage run "$stage" --from-run "$run" "$@"

WRITES="$writes" STAGE="$stage" python3 -c '
import json, os, sys

document = json.load(sys.stdin)
outputs = document["outputs"]
print(json.dumps({
    "run_id": document["run_id"],
    "status": document["status"],
    "profile": document["profile"],
    "cache_hit": document["cache_hits"] == document["stage_count"],
    "params": outputs["params"].get(os.environ["STAGE"]),
    "wrote": {field: outputs.get(field) for field in os.environ["WRITES"].split()},
}, indent=2))
' <<<"$QUANT_OUT"
