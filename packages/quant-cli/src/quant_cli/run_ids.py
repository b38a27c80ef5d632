"""Run ids as people type them: the full id, a unique prefix of it, or its short form.

A generated run id is `<target>-<UTC time>-<6 hex>` (a sleeve adds `.<sleeve>`): long, and alike
for every run of one target. Tables show the short form, the random part (`5cbff2`,
`5cbff2.equities`), and every command that takes a run accepts, as git does for commits:

1. the full id;
2. a short form, exactly;
3. a prefix of one run's id or short form, when no other run's starts the same way.

An ambiguous prefix is an error listing the runs it could mean; none matching is "unknown run".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from quant_core.errors import QuantError, RunNotFoundError

if TYPE_CHECKING:
    from quant_core.sdk import QuantSDK

_GENERATED = re.compile(r"-\d{8}T\d{6}Z-(?P<short>[0-9a-f]{6}(?:\.[A-Za-z0-9_-]+)*)$")
#: How many candidates an ambiguity error lists before "and N more".
SHOWN_CANDIDATES = 8


class AmbiguousRunIdError(QuantError):
    """A run id prefix that more than one run starts with (a usage error: exit code 2)."""

    exit_code = 2

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        self.prefix = prefix
        self.candidates = candidates
        shown = ", ".join(f"{short_id(c)} ({c})" if short_id(c) != c else c for c in candidates[:SHOWN_CANDIDATES])
        more = f" and {len(candidates) - SHOWN_CANDIDATES} more" if len(candidates) > SHOWN_CANDIDATES else ""
        super().__init__(f"run id {prefix!r} is ambiguous: it could be {shown}{more}; give more of it")


def short_id(run_id: str) -> str:
    """The random part of a generated id (with its sleeve suffix), else the id itself."""
    match = _GENERATED.search(run_id)
    return match.group("short") if match else run_id


def match_run_id(reference: str, run_ids: Iterable[str]) -> str:
    """The one run id `reference` names among `run_ids` (see the module's rules)."""
    ids = sorted(set(run_ids))
    if reference in ids:
        return reference
    exact_short = [i for i in ids if short_id(i) == reference]
    if len(exact_short) == 1:
        return exact_short[0]
    candidates = exact_short or [i for i in ids if i.startswith(reference) or short_id(i).startswith(reference)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise AmbiguousRunIdError(reference, candidates)
    raise RunNotFoundError(reference, ids)


def resolve_run_id(sdk: QuantSDK, reference: str) -> str:
    """The full id of the recorded run `reference` names."""
    if sdk.record(reference).exists():  # the common case costs one stat, not a listing
        return reference
    # scan_runs, not list_runs: one damaged manifest elsewhere in the store must not stop a prefix
    # from naming a readable run (`quant store verify` reports the damage).
    return match_run_id(reference, (m.run_id for m in sdk.scan_runs().manifests))
