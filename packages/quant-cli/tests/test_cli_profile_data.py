"""`quant profile list | show` and `quant data list`."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import quant_core.entrypoints


def test_profile_list(cli) -> None:
    result = cli("profile", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "profiles": [
            {"name": "large", "kind": "portfolio", "description": "", "sleeves": []},
            {"name": "small", "kind": "portfolio", "description": "", "sleeves": []},
            {"name": "trio", "kind": "meta", "description": "", "sleeves": ["alpha", "beta", "gamma"]},
        ],
        "damaged": [],
    }
    assert "3 profile(s)" in cli("profile", "list").stdout


def test_profile_show_is_the_resolved_profile(cli) -> None:
    large = json.loads(cli("profile", "show", "large", "--json").stdout)
    assert large == {
        "name": "large",
        "kind": "portfolio",
        "description": "",
        "source": "",
        "stage_params": {"toy.seed": {"n": 8}, "toy.scale": {"factor": 0.5}},
        "sleeves": [],
    }
    human = cli("profile", "show", "large").stdout
    assert "stage parameters" in human and "factor" in human and "0.5000" in human


def test_profile_show_meta_lists_its_sleeves(cli) -> None:
    trio = json.loads(cli("profile", "show", "trio", "--json", failing_sleeves=("beta",)).stdout)
    assert [(s["name"], s["profile"], s["stage_params"]) for s in trio["sleeves"]] == [
        ("alpha", "small", {}), ("beta", "large", {"toy.scale": {"fail": True}}), ("gamma", "small", {}),
    ]
    human = cli("profile", "show", "trio").stdout
    assert "sleeves" in human and "gamma" in human


def test_unknown_profile_is_exit_3(cli) -> None:
    result = cli("profile", "show", "lage", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["message"] == "unknown profile 'lage'; did you mean 'large'?"
    assert result.stderr.strip() == "error: unknown profile 'lage'; did you mean 'large'?"


DATASET_MODULE = '''
class Prices:
    """A dataset declared as a class."""

    name = "prices"
    description = "Daily closes from files."
    params_schema = {"type": "object", "properties": {"path": {"type": "string"}}}

    def load(self, params):
        raise NotImplementedError


class Synthetic:
    name = "synthetic"
    description = "A seeded market."
    params_schema = {"type": "object", "properties": {"seed": {"type": "integer"}, "n_assets": {"type": "integer"}}}

    def load(self, params):
        raise NotImplementedError


DATASETS = [Synthetic(), Prices]
NOT_A_DATASET = 42
'''


@pytest.fixture
def dataset_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a module declaring datasets and point the `quant.datasets` group at `value`."""
    (tmp_path / "cli_test_datasets.py").write_text(DATASET_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(value: str) -> None:
        entry_point = EntryPoint(name="testdata", value=value, group="quant.datasets")
        monkeypatch.setattr(
            quant_core.entrypoints, "entry_points",
            lambda group: [entry_point] if group == "quant.datasets" else [],
        )

    return install


def test_data_list_reads_the_dataset_entry_points(cli, dataset_entry_points) -> None:
    dataset_entry_points("cli_test_datasets:DATASETS")
    result = cli("data", "list", "--json")
    assert result.exit_code == 0, result.output
    datasets = json.loads(result.stdout)["datasets"]
    assert [d["name"] for d in datasets] == ["prices", "synthetic"]
    assert datasets[1] == {
        "name": "synthetic",
        "description": "A seeded market.",
        "params_schema": {"type": "object", "properties": {"seed": {"type": "integer"}, "n_assets": {"type": "integer"}}},
        "entry_point": "testdata = cli_test_datasets:DATASETS",
    }
    human = cli("data", "list").stdout
    assert "2 dataset(s)" in human and "n_assets, seed" in human


def test_data_list_with_none_installed(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quant_core.entrypoints, "entry_points", lambda group: [])
    assert json.loads(cli("data", "list", "--json").stdout) == {"datasets": []}
    assert "no datasets installed" in cli("data", "list").stdout


def test_a_broken_dataset_entry_point_is_named(cli, dataset_entry_points) -> None:
    dataset_entry_points("cli_test_datasets:NOT_A_DATASET")
    result = cli("data", "list", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "EntryPointError"
    assert "'testdata'" in error["message"] and "quant.datasets" in error["message"]
