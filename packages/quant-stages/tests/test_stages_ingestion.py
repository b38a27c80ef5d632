"""selection.ingestion through the SDK: what it keeps, what it drops and says so, how it fails on
bad files, and that its cache follows the files' contents, not only their paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from quant_core.errors import DataValidationError, ParamValidationError, StageFailedError
from quant_stages.frames import get_frame

INGESTION = "selection.ingestion"


def ingest(sdk, params, **options):
    return sdk.run_stage(INGESTION, params=params, **options)


def events(context, code):
    return [e for e in context.audit_trail if e.stage_id == INGESTION and e.code == code]


def pool_symbols(sdk, context) -> list[str]:
    return [c["symbol"] for c in sdk.home.artifact_store().get_json(context.raw_pool)]


def chain(error: BaseException) -> list[BaseException]:
    found = []
    while error is not None:
        found.append(error)
        error = error.__cause__
    return found


def data_error_in(error: BaseException) -> DataValidationError:
    """The DataValidationError a stage surfaced, raised as is or as the cause of StageFailedError."""
    errors = [e for e in chain(error) if isinstance(e, DataValidationError)]
    assert errors, f"no DataValidationError behind {error!r}"
    return errors[0]


# -- what is kept, what is dropped, and the audit trail --------------------------------------


def test_candidates_without_returns_and_columns_without_candidates_are_dropped_and_reported(sdk, kit, two_block_market):
    candidates = [*two_block_market.candidates, kit.candidate("BINANCE:GHOSTUSDT")]
    returns = two_block_market.returns.assign(**{"BINANCE:ORPHANUSDT": two_block_market.returns.iloc[:, 0] * 0.5})
    files = kit.write(kit.Market(candidates, returns))

    context = ingest(sdk, files.params).context
    kept = sorted(two_block_market.returns.columns)
    assert pool_symbols(sdk, context) == kept
    assert list(get_frame(sdk.home.artifact_store(), context.returns).columns) == kept
    (event,) = events(context, "reconciled")
    assert event.level == "warning"
    assert event.data == {
        "candidates_without_returns": ["BINANCE:GHOSTUSDT"],
        "returns_without_candidate": ["BINANCE:ORPHANUSDT"],
        "kept": 6,
    }
    assert "1 candidate(s) without returns" in event.message and "1 returns column(s) without a candidate" in event.message


def test_a_clean_universe_leaves_only_the_ingested_event(sdk, kit, two_block_market):
    context = ingest(sdk, kit.write(two_block_market).params).context
    trail = [e for e in context.audit_trail if e.stage_id == INGESTION]
    assert [e.code for e in trail] == ["ingested"]
    assert trail[0].data == {
        "assets": 6, "dates": 300, "first": "2023-01-02T00:00:00+00:00", "last": "2023-10-28T00:00:00+00:00",
    }


def test_ingestion_keeps_gappy_assets_and_drops_only_columns_without_data(sdk, kit, two_block_market):
    """Coverage is not decided on the whole sample here (that would use the future in every past
    window): a gappy asset is kept for the policy to judge per window; an empty column is dropped."""
    returns = two_block_market.returns.copy()
    gappy, empty = "BINANCE:ALPHAUSDT", "BINANCE:DELTAUSDT"
    missing_rows = np.random.default_rng(1).choice(np.arange(1, 300), size=90, replace=False)
    returns.iloc[missing_rows, returns.columns.get_loc(gappy)] = np.nan
    returns[empty] = np.nan
    files = kit.write(kit.Market(two_block_market.candidates, returns))

    context = ingest(sdk, files.params).context
    (event,) = events(context, "no-observations")
    assert event.level == "warning" and event.data == {"dropped": [empty]}
    assert gappy in pool_symbols(sdk, context) and empty not in pool_symbols(sdk, context)
    assert len(pool_symbols(sdk, context)) == 5
    with pytest.raises(ParamValidationError) as refused:
        ingest(sdk, {**files.params, "min_coverage": 0.7})
    assert refused.value.param == "min_coverage"


def test_start_and_end_keep_the_dates_between_them(sdk, kit, two_block_market):
    files = kit.write(two_block_market)
    context = ingest(sdk, {**files.params, "start": "2023-02-01", "end": "2023-02-28"}).context
    returns = get_frame(sdk.home.artifact_store(), context.returns)
    assert len(returns) == 28
    assert returns.index[0] == pd.Timestamp("2023-02-01", tz="UTC")
    assert returns.index[-1] == pd.Timestamp("2023-02-28", tz="UTC")


def test_column_order_and_file_format_do_not_change_the_stored_matrix(sdk, kit, two_block_market):
    columns = list(two_block_market.returns.columns)
    as_csv = kit.write(two_block_market, name="csv")
    as_parquet = kit.write(two_block_market, name="parquet", fmt="parquet", column_order=columns[::-1])
    first = ingest(sdk, as_csv.params).context
    second = ingest(sdk, as_parquet.params).context
    assert first.returns == second.returns
    assert first.raw_pool == second.raw_pool
    stored = get_frame(sdk.home.artifact_store(), first.returns)
    assert list(stored.columns) == sorted(columns)
    np.testing.assert_array_equal(stored.to_numpy(), two_block_market.returns[sorted(columns)].to_numpy())


def test_dataset_params_without_a_dataset_apply_to_the_embedded_synthetic_market(sdk):
    context = ingest(sdk, {"dataset_params": {"n_assets": 12, "n_days": 90, "seed": 3}}).context
    returns = get_frame(sdk.home.artifact_store(), context.returns)
    assert returns.shape[0] == 90
    assert len(pool_symbols(sdk, context)) == returns.shape[1] <= 12


# -- bad input -----------------------------------------------------------------------------


def _duplicate_date(path: Path) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:3], lines[2], *lines[3:]]) + "\n")


def _text_value(path: Path) -> None:
    lines = path.read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = "n/a-ish"
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def _huge_return(path: Path) -> None:
    lines = path.read_text().splitlines()
    cells = lines[7].split(",")
    cells[1] = "1.5"
    lines[7] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def _bad_symbol(path: Path) -> None:
    records = json.loads(path.read_text())
    records[2]["symbol"] = "no exchange"
    path.write_text(json.dumps(records))


def _duplicate_symbol(path: Path) -> None:
    records = json.loads(path.read_text())
    path.write_text(json.dumps([*records, records[0]]))


def _not_json(path: Path) -> None:
    path.write_text('[{"symbol": "BINANCE:ALPHAUSDT",')


@pytest.mark.parametrize(
    ("spoil", "which", "rule"),
    [
        (_duplicate_date, "returns_path", "duplicate-dates"),
        (_text_value, "returns_path", "non-numeric"),
        (_huge_return, "returns_path", "max-abs-return"),
        (_bad_symbol, "candidates_path", "symbol-pattern"),
        (_duplicate_symbol, "candidates_path", "duplicate-symbol"),
        (_not_json, "candidates_path", "invalid-json"),
    ],
)
def test_bad_files_fail_the_stage_with_a_data_error_naming_the_file(sdk, kit, two_block_market, spoil, which, rule):
    files = kit.write(two_block_market)
    spoil(Path(files.params[which]))
    with pytest.raises(StageFailedError) as failure:
        ingest(sdk, files.params)
    assert failure.value.stage_id == INGESTION
    error = data_error_in(failure.value)
    assert error.rule == rule
    assert error.source == files.params[which]
    assert files.params[which] in str(failure.value)


@pytest.mark.parametrize("which", ["candidates_path", "returns_path"])
def test_a_missing_file_is_a_data_error_naming_it(sdk, kit, two_block_market, tmp_path, which):
    files = kit.write(two_block_market)
    missing = str(tmp_path / "nowhere" / ("c.json" if which == "candidates_path" else "r.csv"))
    with pytest.raises((DataValidationError, StageFailedError)) as failure:
        ingest(sdk, {**files.params, which: missing})
    error = data_error_in(failure.value)
    assert (error.source, error.rule) == (missing, "file-not-found")
    assert missing in str(failure.value)


@pytest.mark.parametrize(("given", "missing"), [("candidates_path", "returns_path"), ("returns_path", "candidates_path")])
def test_one_path_without_the_other_is_a_param_error_naming_the_missing_one(sdk, kit, two_block_market, given, missing):
    files = kit.write(two_block_market)
    with pytest.raises(ParamValidationError) as failure:
        ingest(sdk, {given: files.params[given]})
    assert failure.value.param == missing
    assert f"{missing} is missing" in str(failure.value)
    with pytest.raises(ParamValidationError) as in_pipeline:
        sdk.run_pipeline("selection.full", params={INGESTION: {given: files.params[given]}})
    assert in_pipeline.value.param == missing
    assert not sdk.list_runs()  # refused before anything ran


def test_files_and_a_dataset_together_are_a_param_error(sdk, kit, two_block_market):
    files = kit.write(two_block_market)
    with pytest.raises(ParamValidationError) as failure:
        ingest(sdk, {**files.params, "dataset_params": {"n_assets": 20}})
    assert failure.value.param == "dataset_params"
    with pytest.raises(ParamValidationError) as failure:
        ingest(sdk, {**files.params, "dataset": "synthetic"})
    assert failure.value.param == "dataset"


# -- the cache follows the file contents ---------------------------------------------------


def test_editing_the_returns_file_invalidates_the_cache(sdk, kit, two_block_market):
    files = kit.write(two_block_market)
    first = ingest(sdk, files.params)
    again = ingest(sdk, files.params)
    assert (first.cache_hits, again.cache_hits) == (0, 1)
    assert again.context.returns == first.context.returns

    edited = two_block_market.returns.copy()
    edited.iloc[10, 0] += 0.01
    kit.write(kit.Market(two_block_market.candidates, edited))  # same paths, new contents
    after_edit = ingest(sdk, files.params)
    assert after_edit.cache_hits == 0
    assert after_edit.context.returns != first.context.returns
    stored = get_frame(sdk.home.artifact_store(), after_edit.context.returns)
    assert stored.iloc[10, 0] == pytest.approx(two_block_market.returns.iloc[10, 0] + 0.01, abs=1e-15)
