"""Re-running one stage on an earlier run's context starts from the params that run used."""

import pytest
from quant_core import ParamValidationError, ProfileCatalog, QuantSDK, ResolvedProfile, SleeveSpec
from quant_core.testing import ToyProfiles, toy_profiles, toy_registry


def test_a_rerun_keeps_the_recorded_params_and_changes_only_the_given_ones(tmp_path) -> None:
    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))
    base = sdk.run_pipeline(
        "toy.portfolio", profile="large", params={"toy.scale": {"mode": "square"}}, run_id="base"
    )
    assert base.context.params["toy.scale"] == {"factor": 0.5, "fail": False, "mode": "square"}
    rerun = sdk.run_stage("toy.scale", context=sdk.last_context("base"), params={"factor": 3})
    assert rerun.context.params["toy.scale"] == {"factor": 3.0, "fail": False, "mode": "square"}


def test_without_recorded_params_the_runs_profile_applies(tmp_path) -> None:
    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))
    sdk.run_pipeline("toy.portfolio", profile="large", stages=["toy.seed"], run_id="partial")
    later = sdk.run_stage("toy.scale", context=sdk.last_context("partial"))
    assert later.context.params["toy.scale"]["factor"] == 0.5  # the `large` profile's value


def test_an_explicit_profile_wins_over_the_recorded_params(tmp_path) -> None:
    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))
    sdk.run_pipeline("toy.portfolio", profile="large", run_id="base")
    rerun = sdk.run_stage("toy.scale", context=sdk.last_context("base"), profile="small")
    assert rerun.context.params["toy.scale"]["factor"] == 2.0  # `small` sets nothing: the default


def test_a_sleeve_naming_a_meta_profile_is_an_error(tmp_path) -> None:
    profiles = toy_profiles().profiles | {
        "nested": ResolvedProfile(name="nested", kind="meta", sleeves=[SleeveSpec(name="inner", profile="trio")])
    }
    sdk = QuantSDK(home=tmp_path, registry=toy_registry(), profiles=ProfileCatalog([ToyProfiles(profiles)]))
    with pytest.raises(ParamValidationError, match="sleeve 'inner' names the meta profile 'trio'"):
        sdk.run_pipeline("toy.meta", profile="nested")
    with pytest.raises(ParamValidationError, match="sleeve 'inner' names the meta profile 'trio'"):
        sdk.check_profile("nested")  # `quant profile show` says it before any run
    assert [s.name for s in sdk.check_profile("trio").sleeves] == ["alpha", "beta", "gamma"]
