"""selection.inference scores from the position's side: a steadily falling asset held short has
the best momentum of the universe, held long the worst, and scores higher short than long."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from quant_core import QuantSDK
from quant_stages.frames import get_frame

FALLING = "NYSE:FALL"


def _market(tmp_path: Path, direction: str) -> dict[str, str]:
    rng = np.random.default_rng(3)
    dates = pd.date_range("2022-01-03", periods=400, freq="B", tz="UTC", name="date")
    noise = {f"NYSE:N{i:02d}": rng.normal(0.0, 0.01, len(dates)) for i in range(8)}
    noise[FALLING] = -0.002 + rng.normal(0.0, 0.004, len(dates))
    pd.DataFrame(noise, index=dates).to_csv(tmp_path / "returns.csv")
    candidates = [
        {"symbol": s, "asset_class": "equity", "sector": "x", "value_traded": 5e7,
         "direction": direction if s == FALLING else "long"}
        for s in sorted(noise)
    ]
    (tmp_path / "candidates.json").write_text(json.dumps(candidates))
    return {"candidates_path": str(tmp_path / "candidates.json"), "returns_path": str(tmp_path / "returns.csv")}


def _scores(tmp_path: Path, direction: str) -> pd.DataFrame:
    tmp_path.mkdir()
    sdk = QuantSDK(home=tmp_path / "home")
    result = sdk.run_pipeline(
        "selection.full", stages=["selection.ingestion", "selection.features", "selection.inference"],
        params={"selection.ingestion": _market(tmp_path, direction)},
    )
    return get_frame(sdk.home.artifact_store(), result.context.scores)


def test_momentum_is_scored_on_the_side_of_the_position(tmp_path: Path) -> None:
    short = _scores(tmp_path / "short", "short")
    long = _scores(tmp_path / "long", "long")
    assert short["p_momentum"].idxmax() == FALLING
    assert long["p_momentum"].idxmin() == FALLING
    assert short.at[FALLING, "score"] > long.at[FALLING, "score"]
    # the tail and path features are the asset's own, whatever the side
    for column in ("p_cvar", "p_kurtosis", "p_volatility", "p_efficiency"):
        assert short.at[FALLING, column] == long.at[FALLING, column]
