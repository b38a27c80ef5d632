"""TOML profiles: built-ins, user files shadowing them, profiles by path with relative data paths,
and every mistake reported as a DataValidationError naming the file and the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest
from quant_core.errors import DataValidationError, ProfileNotFoundError
from quant_stages.profiles import load_profile_file

BUILTINS = ("demo_equities", "demo_crypto", "demo_mixed")


def write_profile(folder: Path, text: str, name: str = "mine") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def profile_error(tmp_path: Path, text: str) -> DataValidationError:
    path = write_profile(tmp_path, text)
    with pytest.raises(DataValidationError) as failure:
        load_profile_file(path)
    assert failure.value.source == str(path)
    assert str(path) in str(failure.value)
    return failure.value


# -- mistakes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('[stages."selection.clustering"]\ntreshold = 0.4\n', "stages.selection.clustering.treshold"),
        ('colour = "red"\n', "colour"),
        ("[data]\nx = 1\n", "data.x"),
        ('[profile]\nnam = "x"\n', "profile.nam"),
        (
            '[profile]\nkind = "meta"\n[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\n'
            '[sleeves.stages."selection.policy"]\ntop_n = 3\n',
            "sleeves[0].stages.selection.policy.top_n",
        ),
    ],
)
def test_unknown_keys_are_errors_naming_the_key_path(tmp_path, text, path):
    error = profile_error(tmp_path, text)
    assert error.rule == "unknown-key"
    assert f"unknown key {path!r}" in str(error)


def test_unknown_stage_suggests_the_close_one(tmp_path):
    error = profile_error(tmp_path, '[stages."selection.clusterin"]\nmethod = "ward"\n')
    assert error.rule == "unknown-stage"
    assert "unknown stage 'selection.clusterin'" in str(error)
    assert "did you mean 'selection.clustering'?" in str(error)


@pytest.mark.parametrize(
    ("text", "path", "rule"),
    [
        ('[stages."selection.clustering"]\ndistance_threshold = 2.0\n', "stages.selection.clustering.distance_threshold", "less_than_equal"),
        ('[stages."selection.clustering"]\nmethod = "median"\n', "stages.selection.clustering.method", "literal_error"),
        ('[stages."selection.policy"]\ntop_n_per_cluster = "two"\n', "stages.selection.policy.top_n_per_cluster", "int_parsing"),
        ('[profile]\nkind = "sleeve"\n', "profile.kind", "literal_error"),
        ('[data]\ncandidates_path = "c.json"\n', "data.returns_path", "missing_path"),
        ('[data]\nparams = { n_assets = 3 }\n', "data.params.n_assets", "minimum"),
        ('[data]\ndataset = "synthetic"\nparams = { colour = 3 }\n', "data.params.colour", "unknown"),
        (
            '[profile]\nkind = "meta"\n[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\nmax_weight = 1.5\n',
            "sleeves[0].max_weight", "less_than_equal",
        ),
        ('[profile]\nkind = "meta"\n[[sleeves]]\nname = "a b"\nprofile = "demo_crypto"\n', "sleeves[0].name", "string_pattern_mismatch"),
    ],
)
def test_bad_values_are_errors_naming_the_key_path(tmp_path, text, path, rule):
    error = profile_error(tmp_path, text)
    assert error.rule == rule
    assert f"key {path!r}" in str(error)


def test_unknown_dataset_is_an_error(tmp_path):
    error = profile_error(tmp_path, '[data]\ndataset = "no_such_data"\n')
    assert error.rule == "unknown-dataset"
    assert "no_such_data" in str(error)


def test_invalid_toml_is_an_error_with_its_position(tmp_path):
    error = profile_error(tmp_path, "[stages\n")
    assert error.rule == "invalid-toml"
    assert "line 1" in str(error)


@pytest.mark.parametrize(
    ("text", "rule", "words"),
    [
        ('[profile]\nkind = "meta"\n', "no-sleeves", "at least one [[sleeves]]"),
        (
            '[profile]\nkind = "meta"\n[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\nmin_weight = 0.6\nmax_weight = 0.4\n',
            "bounds", "sleeves[0] (a): min_weight 0.6 > max_weight 0.4",
        ),
        (
            '[profile]\nkind = "meta"\n[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\n'
            '[[sleeves]]\nname = "a"\nprofile = "demo_equities"\n',
            "duplicate-sleeve", "sleeves[1]: sleeve name 'a' is repeated",
        ),
        ('[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\n', "sleeves-in-portfolio", "only a meta profile"),
        (
            '[profile]\nkind = "meta"\n[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\nmin_weight = 0.6\n'
            '[[sleeves]]\nname = "b"\nprofile = "demo_equities"\nmin_weight = 0.5\n',
            "bounds", "the min_weights sum to 1.1",
        ),
        (
            '[profile]\nkind = "meta"\n[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\nmax_weight = 0.3\n'
            '[[sleeves]]\nname = "b"\nprofile = "demo_equities"\nmax_weight = 0.3\n',
            "bounds", "the max_weights to 0.6",
        ),
    ],
)
def test_meta_profile_rules(tmp_path, text, rule, words):
    error = profile_error(tmp_path, text)
    assert error.rule == rule
    assert words in str(error)


def test_a_valid_meta_profile_resolves_its_sleeves(tmp_path):
    path = write_profile(tmp_path, (
        '[profile]\nkind = "meta"\n'
        '[[sleeves]]\nname = "a"\nprofile = "demo_crypto"\nmin_weight = 0.4\nmax_weight = 0.4\n'
        '[sleeves.stages."selection.policy"]\ntop_n_per_cluster = 3\n'
        '[[sleeves]]\nname = "b"\nprofile = "demo_equities"\n'
    ))  # fmt: skip
    profile = load_profile_file(path)
    assert profile.kind == "meta"
    assert [(s.name, s.profile, s.min_weight, s.max_weight) for s in profile.sleeves] == [
        ("a", "demo_crypto", 0.4, 0.4), ("b", "demo_equities", 0.0, 1.0),
    ]
    assert profile.sleeves[0].stage_params == {"selection.policy": {"top_n_per_cluster": 3}}


# -- where profiles come from --------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_profiles_resolve(sdk, name):
    profile = sdk.resolve_profile(name)
    assert (profile.name, profile.kind, profile.sleeves) == (name, "portfolio", [])
    for stage_id in ("discovery.universe", "selection.ingestion"):
        assert profile.stage_params[stage_id]["dataset"] == "synthetic"
    assert {"selection.clustering", "selection.policy"} <= set(profile.stage_params)
    assert name in sdk.profiles.names(sdk.home)


def test_demo_equities_holds_what_its_file_says(sdk):
    profile = sdk.resolve_profile("demo_equities")
    assert profile.stage_params["selection.ingestion"] == {
        "dataset": "synthetic",
        "dataset_params": {"seed": 8, "n_assets": 120, "n_days": 2557, "start": "2019-01-01", "asset_classes": ["equity"]},
    }
    assert profile.stage_params["selection.policy"]["min_liquidity"] == 5.0
    assert profile.stage_params["selection.clustering"]["max_clusters"] == 12


def test_a_user_file_in_quant_home_shadows_the_builtin(sdk):
    path = write_profile(sdk.home.profiles_dir, '[stages."selection.policy"]\ntop_n_per_cluster = 5\n', "demo_equities")
    profile = sdk.resolve_profile("demo_equities")
    assert profile.source == str(path)
    assert profile.stage_params == {"selection.policy": {"top_n_per_cluster": 5}}
    assert sdk.profiles.names(sdk.home).count("demo_equities") == 1


def test_a_user_profile_of_a_new_name_is_listed_and_resolves(sdk):
    write_profile(sdk.home.profiles_dir, '[stages."selection.policy"]\ntop_n_per_cluster = 1\n', "tight")
    assert "tight" in sdk.profiles.names(sdk.home)
    assert sdk.resolve_profile("tight").stage_params == {"selection.policy": {"top_n_per_cluster": 1}}


def test_an_unknown_profile_suggests_close_names(sdk):
    with pytest.raises(ProfileNotFoundError) as failure:
        sdk.resolve_profile("demo_equity")
    assert "demo_equities" in str(failure.value)


def test_a_profile_by_path_resolves_relative_data_paths_against_its_folder(sdk, kit, planted_market, tmp_path, monkeypatch):
    files = kit.write(planted_market)  # under tmp_path/data
    folder = tmp_path / "profiles" / "nested"
    relative = Path("..", "..", "data")
    path = write_profile(folder, (
        "[data]\n"
        f'candidates_path = "{(relative / Path(files.candidates_path).name).as_posix()}"\n'
        f'returns_path = "{(relative / Path(files.returns_path).name).as_posix()}"\n'
        '[stages."selection.policy"]\nmin_liquidity = 5.0\n'
    ), "by_path")  # fmt: skip
    monkeypatch.chdir(tmp_path / "profiles")  # somewhere the relative paths do not point to the data
    profile = sdk.resolve_profile(str(path))
    for stage_id in ("discovery.universe", "selection.ingestion"):
        assert profile.stage_params[stage_id] == files.params
    context = sdk.run_pipeline("selection.full", profile=str(path)).context
    assert context.vetoes == {planted_market.planted["illiquid"]: ["liquidity"]}
