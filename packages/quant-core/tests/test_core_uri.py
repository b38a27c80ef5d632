"""Issue point 9: `quant://` URIs name a stage or a pipeline with run id, profile and params."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import ParamValidationError, QuantSDK, QuantURI, URIError, parse_uri, to_uri
from quant_core.uri import RESERVED_KEYS


def test_a_stage_uri_parses_to_stage_run_id_profile_and_params() -> None:
    uri = "quant://selection/ingestion?run_id=abc&profile=crypto_long&candidates_path=data/c.json"
    parsed = parse_uri(uri)
    assert parsed == QuantURI(
        kind="stage", target="selection.ingestion", run_id="abc", profile="crypto_long",
        params={"candidates_path": "data/c.json"},
    )
    assert to_uri(parsed) == uri


def test_a_pipeline_uri_names_the_pipeline() -> None:
    parsed = parse_uri("quant://pipeline/meta.full?profile=demo")
    assert parsed == QuantURI(kind="pipeline", target="meta.full", profile="demo")
    assert to_uri(parsed) == "quant://pipeline/meta.full?profile=demo"


def test_values_are_percent_decoded_and_encoded() -> None:
    parsed = parse_uri("quant://allocation/optimize?executor=ray&note=a%20b%26c%3Dd%2B%23&list=a,b")
    assert parsed.executor == "ray"
    assert parsed.params == {"note": "a b&c=d+#", "list": "a,b"}
    assert to_uri(parsed) == "quant://allocation/optimize?executor=ray&note=a%20b%26c%3Dd%2B%23&list=a,b"
    assert parse_uri("quant://a/b?x=1+2").params == {"x": "1 2"}  # form encoding: '+' is a space
    assert parse_uri("quant://a/b/c").target == "a.b.c"
    assert parse_uri("quant://a/b?empty=").params == {"empty": ""}


@pytest.mark.parametrize(
    ("uri", "rule", "says"),
    [
        ("http://selection/ingestion", "scheme", "must start with 'quant://' (got scheme 'http')"),
        ("selection.ingestion", "scheme", "must start with 'quant://' (got scheme '')"),
        ("", "scheme", "not a quant URI"),
        ("quant://selection", "name", "names no stage or pipeline after the namespace"),
        ("quant://selection/", "name", "names no stage or pipeline after the namespace"),
        ("quant:///ingestion", "namespace", "names no namespace"),
        ("quant://pipeline/?profile=demo", "name", "names no stage or pipeline"),
        ("quant://Selection/ingestion", "namespace", "namespace 'Selection' must be lowercase"),
        ("quant://selection/Ingestion", "name", "'selection.Ingestion' is not a valid stage id"),
        ("quant://pipeline/full", "name", "'full' is not a valid pipeline id"),
        ("quant://a/b?x=1&x=2", "repeated", "query key 'x' is repeated"),
        ("quant://a/b?run_id=1&run_id=2", "repeated", "query key 'run_id' is repeated"),
        ("quant://a/b?novalue", "query", "malformed query"),
        ("quant://a/b?=3", "query", "empty query key"),
        ("quant://a/b#frag", "fragment", "fragments ('#...') are not allowed"),
    ],
)
def test_malformed_uris_say_what_is_wrong(uri: str, rule: str, says: str) -> None:
    with pytest.raises(URIError) as caught:
        parse_uri(uri)
    assert isinstance(caught.value, ParamValidationError)
    assert caught.value.rule == rule
    assert says in str(caught.value)


segments = st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\Z")
stage_ids = st.builds(lambda ns, rest: ".".join([ns, *rest]), segments.filter(lambda s: s != "pipeline"), st.lists(segments, min_size=1, max_size=3))
pipeline_ids = st.lists(segments, min_size=2, max_size=3).map(".".join)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)
param_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10).filter(lambda k: k not in RESERVED_KEYS)


@st.composite
def quant_uris(draw: st.DrawFn) -> QuantURI:
    kind = draw(st.sampled_from(["stage", "pipeline"]))
    return QuantURI(
        kind=kind,
        target=draw(stage_ids if kind == "stage" else pipeline_ids),
        run_id=draw(st.none() | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")),
        profile=draw(st.none() | values),
        executor=draw(st.none() | st.sampled_from(["local", "ray", "prefect", "dbos"])),
        params=draw(st.dictionaries(param_names, values, max_size=4)),
    )


@settings(max_examples=200, deadline=None)
@given(quant_uris())
def test_to_uri_and_parse_uri_round_trip(parsed: QuantURI) -> None:
    text = to_uri(parsed)
    assert parse_uri(text) == parsed
    assert to_uri(parse_uri(text)) == text
    assert text.isascii() and " " not in text


def test_run_uri_runs_a_stage_with_coerced_params(sdk: QuantSDK) -> None:
    result = sdk.run_uri("quant://toy/noop?run_id=uri-1&index=7&executor=local")
    assert (result.run_id, result.target, result.kind) == ("uri-1", "toy.noop", "stage")
    assert result.context.params["last"] == 7
    assert result.ledger[0].executor == "local"


def test_run_uri_runs_a_pipeline_with_profile_and_params(sdk: QuantSDK) -> None:
    result = sdk.run_uri("quant://pipeline/toy.portfolio?run_id=uri-2&profile=large&mode=square")
    assert result.context.profile == "large"
    assert result.context.backtest == {"total": 70.0}  # 0.5 * (0 + 1 + 4 + ... + 49)
    meta = sdk.run_uri("quant://pipeline/toy.meta?run_id=uri-3&profile=trio")
    assert meta.context.meta_weights == {"alpha": 6 / 26, "beta": 14 / 26, "gamma": 6 / 26}


def test_run_uri_rejects_unknown_params_with_a_suggestion(sdk: QuantSDK) -> None:
    with pytest.raises(ParamValidationError, match="unknown parameter 'indx'.*did you mean 'index'"):
        sdk.run_uri("quant://toy/noop?indx=7")
    with pytest.raises(ParamValidationError, match="'index'='seven' is not a valid integer"):
        sdk.run_uri("quant://toy/noop?index=seven")
