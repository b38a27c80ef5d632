#!/usr/bin/env bash
# Summarise this deployment's quant configuration as JSON: the file read, every setting that is
# not at its default (value and where it came from), and the configured executor: installed or
# what to install, and the options it will be given.
#
#   usage: check-deployment.sh DIR      (the deployment's folder, where quant.toml is; . for here)
#
# A broken configuration (exit 2) prints quant's error document and keeps its exit code.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $(basename "$0") DIR   (the deployment's folder, where quant.toml is; . for here)" >&2
    exit 2
fi
[ -d "$1" ] || { echo "error: $1 is not a folder" >&2; exit 2; }
command -v quant >/dev/null || { echo "error: the quant command is not on PATH (pip install quant-cli, or use uv run)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed to read the JSON" >&2; exit 1; }

cd "$1"  # quant reads ./quant.toml (or ./pyproject.toml's [tool.quant]) of the deployment
status=0
shown=$(quant config show --json) || status=$?
if [ "$status" -ne 0 ]; then
    printf '%s\n' "$shown"
    exit "$status"
fi

python3 -c '
import json, sys

shown = json.load(sys.stdin)
executor = shown["executor"]
summary = {
    "file": shown["file"],
    "executor": executor["name"],
    "executor_from": executor["source"],
    "installed": executor["installed"],
    "executor_options": executor.get("options", {}),
    "install_hint": executor.get("error"),
    "home": shown["settings"]["home"]["value"],
    "tracing": shown["settings"]["telemetry.tracing"]["value"],
    "metrics": shown["settings"]["telemetry.metrics"]["value"],
    "changed": {
        key: {"value": row["value"], "source": row["source"]}
        for key, row in shown["settings"].items() if row["source"] != "default"
    },
}
print(json.dumps(summary, indent=2))
' <<<"$shown"
