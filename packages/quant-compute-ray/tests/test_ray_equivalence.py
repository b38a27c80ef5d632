"""The real pipelines give the same results on Ray as in-process: for `meta.full` (sleeves in
actors) and `portfolio.full` (stages as tasks) on small synthetic profiles, every stage's output
hash and the final context are identical, and one cache serves both executors both ways.

Two QuantHomes, the same run ids: in `ray_first` each pipeline is computed on Ray and then re-run
locally; in `local_first` the other way round."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from quant_core import QuantSDK, RunResult

SLEEVE = (
    '[data]\ndataset = "synthetic"\nparams = {{ seed = {seed}, n_assets = 16, n_days = 400 }}\n'
    '[stages."selection.policy"]\nmin_history = 100\n'
    '[stages."allocation.backtest"]\ntrain = 200\ntest = 60\n'
)
META = (
    '[profile]\nkind = "meta"\n'
    '[[sleeves]]\nname = "a"\nprofile = "eq_sleeve"\n'
    '[[sleeves]]\nname = "b"\nprofile = "eq_sleeve_b"\n'
    '[sleeves.stages."allocation.optimize"]\nengine = "risk_parity"\n'
)
RUNS = {"meta": ("meta.full", "eq_meta"), "portfolio": ("portfolio.full", "eq_other")}


@dataclass(frozen=True)
class Home:
    sdk: QuantSDK
    computed: dict[str, RunResult]  # by pipeline key: the first run, which computed every stage
    replayed: dict[str, RunResult]  # the same request on the other executor, afterwards


def _home(root: Path, first: str, then: str) -> Home:
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "eq_sleeve.toml").write_text(SLEEVE.format(seed=3))
    (root / "profiles" / "eq_sleeve_b.toml").write_text(SLEEVE.format(seed=4))  # no stage shared with a
    (root / "profiles" / "eq_other.toml").write_text(SLEEVE.format(seed=5))
    (root / "profiles" / "eq_meta.toml").write_text(META)
    sdk = QuantSDK(home=root)
    computed, replayed = {}, {}
    for key, (pipeline, profile) in RUNS.items():
        computed[key] = sdk.run_pipeline(pipeline, profile=profile, run_id=key, executor=first)
        replayed[key] = sdk.run_pipeline(pipeline, profile=profile, run_id=f"{key}-again", executor=then)
    return Home(sdk, computed, replayed)


@pytest.fixture(scope="module")
def ray_first(tmp_path_factory, ray_address) -> Home:
    return _home(tmp_path_factory.mktemp("ray-first") / "home", "ray", "local")


@pytest.fixture(scope="module")
def local_first(tmp_path_factory) -> Home:
    return _home(tmp_path_factory.mktemp("local-first") / "home", "local", "ray")


def _run_ids(home: Home, key: str) -> list[str]:
    context = home.sdk.expanded(home.computed[key].context)
    return [key, *(r.run_id for r in getattr(context, "sleeve_results", []))]


def _stage_hashes(home: Home, key: str) -> dict[str, list[tuple[str, str | None]]]:
    return {
        run_id: [(e.stage_id, e.output_hash) for e in home.sdk.record(run_id).read_ledger()]
        for run_id in _run_ids(home, key)
    }


@pytest.mark.parametrize("key", sorted(RUNS))
def test_every_stage_computed_on_ray_has_the_output_hash_it_has_locally(ray_first, local_first, key):
    on_ray, on_local = _stage_hashes(ray_first, key), _stage_hashes(local_first, key)
    assert on_ray == on_local
    stage_count = sum(len(lines) for lines in on_ray.values())
    assert stage_count == (2 * 8 + 5 if key == "meta" else 8)
    for run_id in _run_ids(ray_first, key):
        ledger = ray_first.sdk.record(run_id).read_ledger()
        assert {e.executor for e in ledger} == {"ray"} and not any(e.cache_hit for e in ledger)
        assert all(e.node and e.worker for e in ledger if not e.stage_id.startswith("fan_out."))


@pytest.mark.parametrize("key", sorted(RUNS))
def test_the_final_context_and_every_recorded_context_are_identical(ray_first, local_first, key):
    assert ray_first.computed[key].context == local_first.computed[key].context
    for run_id in _run_ids(ray_first, key):
        assert ray_first.sdk.record(run_id).context_entries() == local_first.sdk.record(run_id).context_entries()


@pytest.mark.parametrize("key", sorted(RUNS))
def test_one_cache_serves_both_executors_both_ways(ray_first, local_first, key):
    for home, executor in ((ray_first, "local"), (local_first, "ray")):
        again = home.replayed[key]
        computed = home.computed[key].context
        assert again.manifest.executor == executor
        # the same data (run ids aside: the sleeves' run ids are provenance) and the same audit trail
        assert again.context.cache_view() == computed.cache_view()
        assert again.context.audit_trail == computed.audit_trail
        records = [again.run_id, *(r.run_id for r in getattr(home.sdk.expanded(again.context), "sleeve_results", []))]
        for run_id in records:
            ledger = home.sdk.record(run_id).read_ledger()
            stages = [e for e in ledger if not e.stage_id.startswith("fan_out.")]
            assert stages and all(e.cache_hit for e in stages), run_id
