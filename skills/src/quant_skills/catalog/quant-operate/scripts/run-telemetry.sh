#!/usr/bin/env bash
# What a run's traces and metrics hold, from its record: per stage of it and of its sleeves the
# attempts, the time, the cache hits, the executor and where each attempt ran; and how to find
# its trace (its trace ids, and the quant.run_id attribute).
#
#   usage: run-telemetry.sh RUN
#
# On failure (unknown run: exit 3) quant's error document is printed and its exit code kept.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $(basename "$0") RUN" >&2
    exit 2
fi
command -v quant >/dev/null || { echo "error: the quant command is not on PATH (pip install quant-cli, or use uv run)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed to read the JSON" >&2; exit 1; }

status=0
shown=$(quant runs show "$1" --json) || status=$?
if [ "$status" -ne 0 ]; then
    printf '%s\n' "$shown"
    exit "$status"
fi

python3 -c '
import collections, json, sys

shown = json.load(sys.stdin)


def stages(ledger):
    """Per stage id: what the quant_stage_* metrics count for this run."""
    found = collections.OrderedDict()
    for entry in ledger:
        if entry["stage_id"].startswith("fan_out."):
            continue
        row = found.setdefault(entry["stage_id"], {
            "attempts": 0, "failed": 0, "cache_hits": 0, "seconds": 0.0, "executor": entry["executor"], "ran_on": [],
        })
        row["attempts"] += 1
        row["failed"] += entry["status"] == "failed"
        row["cache_hits"] += bool(entry["cache_hit"])
        row["seconds"] = round(row["seconds"] + entry["duration_s"], 6)
        where = "/".join(part for part in (entry.get("node"), entry.get("worker")) if part) or "driver"
        if where not in row["ran_on"]:
            row["ran_on"].append(where)
    return found


manifest = shown["manifest"]
print(json.dumps({
    "run_id": manifest["run_id"],
    "target": manifest["target"],
    "executor": manifest["executor"],
    "status": manifest["status"],
    "trace": {
        "span": "quant.run " + manifest["target"], "attribute": {"quant.run_id": manifest["run_id"]},
        "trace_ids": shown.get("trace_ids", []),  # one per traced invocation of the run
    },
    "stages": stages(shown["ledger"]),
    "sleeves": {s["run_id"]: {"status": s["status"], "stages": stages(s["ledger"])} for s in shown["sleeves"]},
}, indent=2))
' <<<"$shown"
