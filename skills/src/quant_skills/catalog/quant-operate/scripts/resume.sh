#!/usr/bin/env bash
# Resume a recorded quant run (after a crash, an interruption or a fixed failure) and print what
# this invocation did, as JSON: status, executor, the steps that computed again and the ones
# served from the cache.
#
#   usage: resume.sh RUN [--executor NAME] [--dbos-database-url URL ...]
#
# On failure (unknown run: 3, the same failure again: 4 or 5) quant's error document is printed
# and its exit code kept.
set -euo pipefail

if [ "$#" -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $(basename "$0") RUN [--executor NAME] [quant runs resume options]" >&2
    exit 2
fi
command -v quant >/dev/null || { echo "error: the quant command is not on PATH (pip install quant-cli, or use uv run)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed to read the JSON" >&2; exit 1; }

status=0
resumed=$(quant runs resume "$@" --json) || status=$?
if [ "$status" -ne 0 ]; then
    printf '%s\n' "$resumed"
    exit "$status"
fi
shown=$(quant runs show "$1" --json)

python3 -c '
import json, sys

resumed, shown = (json.loads(part) for part in sys.argv[1:3])
manifest = shown["manifest"]
latest = {}
for entry in shown["ledger"]:
    if entry["started_at"] >= manifest["started_at"]:
        latest[entry["step"]] = entry
steps = [latest[k] for k in sorted(latest)]
print(json.dumps({
    "run_id": manifest["run_id"],
    "status": manifest["status"],
    "executor": manifest["executor"],
    "invocations": manifest["invocations"],
    "recomputed": [e["stage_id"] for e in steps if not e["cache_hit"]],
    "from_cache": [e["stage_id"] for e in steps if e["cache_hit"]],
    "record": resumed["record"],
}, indent=2))
' "$resumed" "$shown"
