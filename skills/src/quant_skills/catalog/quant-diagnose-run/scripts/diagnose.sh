#!/usr/bin/env bash
# Summarise a recorded quant run (and its sleeve runs) as JSON: status, error, the failed steps,
# the warning and error audit events, and the vetoes by reason, from `quant runs show RUN --json`
# (its `context`: the last context the run recorded, every collection inline).
#
#   usage: diagnose.sh RUN        (run ids: quant runs list --json)
#
# On failure (unknown run: exit 3) the quant error document is printed and quant's exit code kept.
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


def failed_steps(ledger):
    """The last attempt of each step, when it failed."""
    last = {}
    for entry in ledger:
        last[entry["step"]] = entry
    return [
        {"step": e["step"], "stage_id": e["stage_id"], "attempt": e["attempt"], "error": e["error"]}
        for _, e in sorted(last.items()) if e["status"] == "failed"
    ]


def findings(context):
    events = [
        {k: e[k] for k in ("stage_id", "level", "code", "message")}
        for e in context.get("audit_trail", []) if e["level"] in ("warning", "error")
    ]
    vetoes = collections.Counter(r for reasons in (context.get("vetoes") or {}).values() for r in reasons)
    return {"warnings": events, "vetoes_by_reason": dict(sorted(vetoes.items()))}


manifest = shown["manifest"]
summary = {
    "run_id": manifest["run_id"],
    "kind": manifest["kind"],
    "target": manifest["target"],
    "profile": manifest["profile"],
    "status": manifest["status"],
    "error": manifest["error"],
    "invocations": manifest["invocations"],
    "record": shown["record"],
    "failed_steps": failed_steps(shown["ledger"]),
    **findings(shown["context"]),
    "sleeves": [
        {"run_id": s["run_id"], "profile": s["profile"], "status": s["status"],
         "failed_steps": failed_steps(s["ledger"]), **findings(s["context"])}
        for s in shown["sleeves"]
    ],
}
print(json.dumps(summary, indent=2))
' <<<"$shown"
