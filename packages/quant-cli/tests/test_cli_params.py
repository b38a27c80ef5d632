"""`--param` parsing and global-option hoisting (pure functions)."""

from __future__ import annotations

import pytest
from quant_core.errors import ParamValidationError

from quant_cli.group import hoist_global_options
from quant_cli.params import parse_params, strip_stage_prefix


def test_parse_params_splits_on_the_first_equals_sign() -> None:
    assert parse_params(["n=5", "toy.scale.factor=0.5", "expr=a=b", "empty="]) == {
        "n": "5",
        "toy.scale.factor": "0.5",
        "expr": "a=b",
        "empty": "",
    }
    assert parse_params(None) == {}
    assert parse_params([]) == {}


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("n", "expected name=value"),
        ("=5", "is not a parameter name"),
        ("9n=5", "is not a parameter name"),
        ("toy..scale=1", "is not a parameter name"),
        ("a b=1", "is not a parameter name"),
    ],
)
def test_malformed_param_names_the_item(item: str, fragment: str) -> None:
    with pytest.raises(ParamValidationError) as caught:
        parse_params([item])
    assert fragment in str(caught.value)
    assert repr(item) in str(caught.value)
    assert caught.value.exit_code == 2
    assert caught.value.rule == "format"


def test_a_param_given_twice_is_an_error() -> None:
    with pytest.raises(ParamValidationError, match="'n' is given twice"):
        parse_params(["n=1", "n=2"])


def test_strip_stage_prefix_for_a_single_stage() -> None:
    assert strip_stage_prefix({"toy.seed.n": "3", "offset": "1"}, "toy.seed") == {"n": "3", "offset": "1"}
    assert strip_stage_prefix({"other.stage.n": "3"}, "toy.seed") == {"other.stage.n": "3"}
    with pytest.raises(ParamValidationError, match="given twice"):
        strip_stage_prefix({"n": "1", "toy.seed.n": "2"}, "toy.seed")


def test_hoist_moves_global_options_to_the_front() -> None:
    assert hoist_global_options(["stage", "list", "--json"]) == ["--json", "stage", "list"]
    assert hoist_global_options(["stage", "run", "x", "--home", "/h", "-p", "n=1", "--debug"]) == [
        "--home", "/h", "--debug", "stage", "run", "x", "-p", "n=1",
    ]
    assert hoist_global_options(["runs", "list", "--home=/h"]) == ["--home=/h", "runs", "list"]


def test_hoist_leaves_everything_after_a_separator_alone() -> None:
    assert hoist_global_options(["run", "--", "--json"]) == ["run", "--", "--json"]


def test_hoist_leaves_a_dangling_value_option_for_the_parser_to_reject() -> None:
    assert hoist_global_options(["stage", "list", "--home"]) == ["stage", "list", "--home"]
