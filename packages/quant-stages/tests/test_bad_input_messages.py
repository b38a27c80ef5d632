"""Issue 12 point 8: bad input files and parameters get a clear error naming the file or
parameter, with the README's exit code, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quant_core import QuantSDK
from quant_core.errors import DataValidationError, ParamValidationError
from quant_stages.data.candidates import read_candidates
from quant_stages.data.returns import read_returns
from quant_stages.profiles import load_profile_file


def _utf16(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-16"))  # with its byte order mark, as editors save it
    return path


def test_a_utf16_returns_csv_names_the_file_and_the_encoding(tmp_path: Path) -> None:
    path = _utf16(tmp_path / "returns.csv", "date,A\n2024-01-02,0.01\n")
    with pytest.raises(DataValidationError) as caught:
        read_returns(path)
    assert str(caught.value) == (
        f"{path}: not UTF-8 text (byte 0xff at offset 0); it is UTF-16 text: save it as UTF-8"
    )
    assert (caught.value.rule, caught.value.exit_code) == ("encoding", 2)


def test_a_binary_csv_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "returns.csv"
    path.write_bytes(b"\x89PNG\x00\x00\xff\xfe\x00binary")
    with pytest.raises(DataValidationError, match=f"^{path}: not UTF-8 text .*binary file"):
        read_returns(path)


def test_a_csv_that_turns_binary_after_its_header_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "returns.csv"
    path.write_bytes(b"date,A\n2024-01-02,0.01\n2024-01-03,\xff\xfe\n")
    with pytest.raises(DataValidationError, match=f"^{path}: not UTF-8 text"):
        read_returns(path)


def test_a_utf16_candidates_file_names_the_file(tmp_path: Path) -> None:
    path = _utf16(tmp_path / "candidates.json", json.dumps([{"symbol": "X:A"}]))
    with pytest.raises(DataValidationError, match=f"^{path}: not UTF-8 text .*UTF-16"):
        read_candidates(path)


def test_a_utf16_profile_names_the_file(tmp_path: Path) -> None:
    path = _utf16(tmp_path / "mine.toml", '[profile]\nname = "mine"\n')
    with pytest.raises(DataValidationError, match=f"^{path}: not UTF-8 text .*UTF-16"):
        load_profile_file(path)


def test_a_folder_given_as_a_profile_is_named(sdk: QuantSDK, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as caught:
        sdk.plan_pipeline("portfolio.full", profile=str(tmp_path))
    assert str(caught.value) == f"{tmp_path}: is a directory, expected a file"
    assert caught.value.exit_code == 2


def test_dataset_params_the_dataset_refuses_are_a_parameter_error_before_the_run(sdk: QuantSDK) -> None:
    with pytest.raises(ParamValidationError) as caught:
        sdk.run_pipeline("portfolio.full", profile="demo_equities", params={"dataset_params": {"n_assets": 5}}, run_id="refused")
    assert caught.value.exit_code == 2
    assert "'dataset_params.n_assets'=5" in str(caught.value) and "minimum" in str(caught.value)
    assert not sdk.home.runs_dir.exists()


def test_a_profile_binding_refused_dataset_params_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text("[data]\nparams = { n_assets = 5 }\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as caught:
        load_profile_file(path)
    assert str(caught.value).startswith(f"{path}: key 'data.params.n_assets'=5: ")
