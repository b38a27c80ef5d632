#!/usr/bin/env bash
# Print a stage's parameters as a compact JSON list (name, type, default, allowed values, description).
#
#   usage: stage-params.sh STAGE_ID        e.g. stage-params.sh allocation.optimize
#
# On failure (unknown stage: exit 3) the quant error document is printed and quant's exit code kept.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $(basename "$0") STAGE_ID" >&2
    exit 2
fi
command -v quant >/dev/null || { echo "error: the quant command is not on PATH (pip install quant-cli, or use uv run)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed to read the JSON" >&2; exit 1; }

status=0
schema=$(quant stage schema "$1" --json) || status=$?
if [ "$status" -ne 0 ]; then
    printf '%s\n' "$schema"
    exit "$status"
fi

python3 -c '
import json, sys

schema = json.load(sys.stdin)
rows = []
for name, prop in schema["input_schema"].get("properties", {}).items():
    options = [prop, *prop.get("anyOf", [])]
    types = [o["type"] for o in options if "type" in o]
    row = {"name": name, "type": " | ".join(types), "default": prop.get("default")}
    for key in ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        found = [o[key] for o in options if key in o]
        if found:
            row[key] = found[0]
    items = [o["items"] for o in options if "items" in o]
    if items and "enum" in items[0]:
        row["items_enum"] = items[0]["enum"]
    row["description"] = prop.get("description", "")
    rows.append(row)
print(json.dumps({"stage": schema["id"], "version": schema["version"], "params": rows}, indent=2))
' <<<"$schema"
