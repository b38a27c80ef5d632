"""Issue 12, the property: after a small meta run, any single-byte change to any file under
$QUANT_HOME gives, on the next run and on a resume of the first, either the same results or a
clear error naming that file; never different results without an error.

"The same results": the final context's data (run ids and audit trail aside) equals the first
run's, and every artifact it names is in the store and hashes to its name (so a damaged artifact
still referenced counts as a different result)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quant_core import QuantError, QuantSDK
from quant_core.cache import iter_artifact_refs

SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = { seed = 5, n_assets = 20, n_days = 400 }\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "{sleeve}"\n'
    '[[sleeves]]\nname = "b"\nprofile = "{sleeve}"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)
FIRST_RUN = "first"


@dataclass(frozen=True)
class Pristine:
    """A home holding one finished meta run, its result and every file it wrote."""

    home: Path
    profile: str
    result: dict[str, Any]
    files: list[Path]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    # The profiles live outside the home: they are the user's input, not the store under test.
    profiles = tmp_path_factory.mktemp("profiles")
    (profiles / "sleeve.toml").write_text(SLEEVE, encoding="utf-8")
    (profiles / "meta.toml").write_text(META.format(sleeve=profiles / "sleeve.toml"), encoding="utf-8")
    home = tmp_path_factory.mktemp("pristine") / "home"
    result = QuantSDK(home=home).run_pipeline("meta.full", profile=str(profiles / "meta.toml"), run_id=FIRST_RUN)
    files = sorted(p for p in home.rglob("*") if p.is_file())
    return Pristine(home, str(profiles / "meta.toml"), result.context.cache_view(), files)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("corrupted")


def _same_results(sdk: QuantSDK, run: Any, expected: dict[str, Any]) -> list[str]:
    """What differs from the expected results (nothing: an empty list)."""
    problems = []
    view = run.context.cache_view()
    if view != expected:
        problems.append(f"context fields differ: {sorted(k for k in view if view[k] != expected.get(k))}")
    store = sdk.home.artifact_store()
    for sha, size in iter_artifact_refs(view):
        problem = store.verify(sha, size)
        if problem is not None:
            problems.append(problem)
    return problems


def _check(attempt: str, action: Any, sdk: QuantSDK, changed: Path, expected: dict[str, Any]) -> None:
    try:
        run = action()
    except QuantError as exc:
        assert str(changed) in str(exc), f"{attempt}: the error does not name {changed}: {exc}"
        return
    differences = _same_results(sdk, run, expected)
    assert not differences, f"{attempt} succeeded with other results after changing {changed}: {differences}"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_changed_byte_anywhere_gives_the_same_results_or_an_error_naming_the_file(
    pristine: Pristine, scratch: Path, data: st.DataObject
) -> None:
    original = data.draw(st.sampled_from(pristine.files), label="file")
    size = original.stat().st_size
    offset = data.draw(st.integers(0, max(size - 1, 0)), label="offset")
    mask = data.draw(st.integers(1, 255), label="xor mask")

    home = Path(tempfile.mkdtemp(dir=scratch)) / "home"
    shutil.copytree(pristine.home, home)
    changed = home / original.relative_to(pristine.home)
    content = bytearray(changed.read_bytes())
    if content:
        content[offset] ^= mask
    changed.write_bytes(bytes(content))

    sdk = QuantSDK(home=home)
    _check("a new run", lambda: sdk.run_pipeline("meta.full", profile=pristine.profile, run_id="again"), sdk, changed, pristine.result)
    _check(f"resuming {FIRST_RUN}", lambda: sdk.resume(FIRST_RUN), sdk, changed, pristine.result)
    shutil.rmtree(home.parent)
