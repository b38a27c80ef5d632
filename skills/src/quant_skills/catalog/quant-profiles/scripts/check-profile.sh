#!/usr/bin/env bash
# Check that a quant profile loads (for a meta profile `quant profile show` also checks that every
# sleeve's profile exists and is a portfolio profile); print a short JSON summary with where each
# sleeve's profile comes from.
#
#   usage: check-profile.sh NAME_OR_PATH      e.g. check-profile.sh my_meta, check-profile.sh ./p.toml
#
# Exit codes are quant's: 2 the profile file is invalid or a sleeve names a meta profile, 3 a
# profile (or a sleeve's) is unknown; the quant error document is printed.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $(basename "$0") NAME_OR_PATH" >&2
    exit 2
fi
command -v quant >/dev/null || { echo "error: the quant command is not on PATH (pip install quant-cli, or use uv run)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed to read the JSON" >&2; exit 1; }

# Runs `quant ARGS --json` into $QUANT_OUT; on failure prints the error document and exits with its code.
run_quant() {
    local status=0
    QUANT_OUT=$(quant "$@" --json) || status=$?
    if [ "$status" -ne 0 ]; then
        printf '%s\n' "$QUANT_OUT"
        exit "$status"
    fi
}

run_quant profile show "$1"
profile=$QUANT_OUT
sleeve_profiles=$(python3 -c '
import json, sys
for sleeve in json.load(sys.stdin)["sleeves"]:
    print(sleeve["profile"])
' <<<"$profile")

sleeves="[]"
while IFS= read -r name; do
    [ -n "$name" ] || continue
    run_quant profile show "$name"
    sleeves=$(SLEEVES="$sleeves" python3 -c '
import json, os, sys
shown = json.load(sys.stdin)
sleeves = json.loads(os.environ["SLEEVES"])
sleeves.append({"profile": shown["name"], "kind": shown["kind"], "source": shown["source"]})
print(json.dumps(sleeves))
' <<<"$QUANT_OUT")
done <<<"$sleeve_profiles"

SLEEVES="$sleeves" python3 -c '
import json, os, sys

profile = json.load(sys.stdin)
resolved = {s["profile"]: s for s in json.loads(os.environ["SLEEVES"])}
summary = {
    "name": profile["name"],
    "kind": profile["kind"],
    "source": profile["source"],
    "stages": {stage: sorted(params) for stage, params in sorted(profile["stage_params"].items())},
    "sleeves": [
        {"name": s["name"], "profile": s["profile"], "profile_source": resolved[s["profile"]]["source"],
         "min_weight": s["min_weight"], "max_weight": s["max_weight"],
         "overrides": sorted(s["stage_params"])}
        for s in profile["sleeves"]
    ],
}
print(json.dumps(summary, indent=2))
' <<<"$profile"
