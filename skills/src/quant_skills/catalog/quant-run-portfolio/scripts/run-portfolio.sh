#!/usr/bin/env bash
# Run a quant profile end to end and print a short JSON summary on stdout.
#
#   usage: run-portfolio.sh PROFILE [quant options, e.g. --param allocation.optimize.engine=hrp --force]
#
# A portfolio profile runs pipeline portfolio.full; a meta profile runs `quant demo --profile`,
# which runs pipeline meta.full and writes report.html into the run's folder. On failure the
# error document is printed and the script exits with quant's exit code (2, 3, 4 or 5).
# The full result: run the same command again (served from the cache) or `quant runs show RUN --json`.
set -euo pipefail

if [ "$#" -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $(basename "$0") PROFILE [--param STAGE.ID.NAME=VALUE ...] [--force]" >&2
    exit 2
fi
command -v quant >/dev/null || { echo "error: the quant command is not on PATH (pip install quant-cli, or use uv run)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed to read the JSON" >&2; exit 1; }

profile=$1
shift

# Runs `quant ARGS --json` into $QUANT_OUT; on failure prints the error document and exits with its code.
run_quant() {
    local status=0
    QUANT_OUT=$(quant "$@" --json) || status=$?
    if [ "$status" -ne 0 ]; then
        printf '%s\n' "$QUANT_OUT"
        exit "$status"
    fi
}

run_quant profile show "$profile"
kind=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["kind"])' <<<"$QUANT_OUT")

if [ "$kind" = "meta" ]; then
    run_quant demo --profile "$profile" "$@"
else
    run_quant pipeline run portfolio.full --profile "$profile" "$@"
fi

python3 -c '
import json, sys

document = json.load(sys.stdin)
outputs = document["outputs"]
summary = {key: document.get(key) for key in (
    "run_id", "target", "profile", "status", "record", "stage_count", "cache_hits", "report_path")}
if "backtest" in outputs:
    summary["backtest"] = outputs["backtest"]
    summary["allocation"] = outputs["allocation"]
    summary["winners"] = len(outputs["winners"])
if "meta_weights" in outputs:
    summary["meta_weights"] = outputs["meta_weights"]
    summary["metrics"] = (outputs.get("report") or {}).get("metrics")
    summary["sleeves"] = [
        {"name": s["name"], "profile": s["profile"], "run_id": s["run_id"], "status": s["status"],
         "sharpe": (s.get("summary") or {}).get("sharpe")}
        for s in outputs["sleeve_results"]
    ]
print(json.dumps(summary, indent=2))
' <<<"$QUANT_OUT"
