"""Datasets: named sources of candidates + returns, found through the `quant.datasets` entry point
group. The built-in `synthetic` dataset is the embedded default market."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quant_core.entrypoints import DATASETS_GROUP, iter_loaded
from quant_core.errors import DatasetNotFoundError, ParamValidationError

from quant_stages.data.candidates import Candidate, validate_candidates

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class LoadedData:
    candidates: list[Candidate]
    returns: pd.DataFrame


class SyntheticParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 7
    n_assets: int = Field(default=200, ge=10, le=10_000)
    n_days: int = Field(default=1461, ge=60, le=36_500)
    start: str = "2021-01-01"
    asset_classes: tuple[Literal["crypto", "equity", "etf", "fx", "future"], ...] = ("crypto", "equity")


class SyntheticDataset:
    """A deterministic synthetic market: sectors and factors, fat tails, volatility clustering,
    trending assets and planted junk (illiquid, erratic, short history)."""

    name = "synthetic"
    description = (
        "Deterministic synthetic market (seeded): crypto on a 7-day calendar and equities on "
        "weekdays, latent sectors and factors, fat tails, volatility clustering, trending assets "
        "and planted junk the policy must veto."
    )
    params_schema = SyntheticParams.model_json_schema()

    def load(self, params: dict[str, Any]) -> LoadedData:
        try:
            chosen = SyntheticParams.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(map(str, first["loc"]))
            raise ParamValidationError(
                f"dataset synthetic: parameter {name!r}={first.get('input')!r}: {first['msg']}",
                param=name, value=first.get("input"), rule=first["type"],
            ) from None
        from quant_stages.data.synthetic import generate_market  # numpy/pandas: only when loading

        market = generate_market(**chosen.model_dump())
        candidates = validate_candidates(market.candidates, source="dataset synthetic")
        return LoadedData(candidates=candidates, returns=market.returns)


class DatasetCatalog:
    def __init__(self, datasets: list[Any]) -> None:
        self.datasets = {d.name: d for d in datasets}

    @classmethod
    def from_entry_points(cls) -> DatasetCatalog:
        loaded = [
            item() if isinstance(item, type) else item
            for _, item in iter_loaded(DATASETS_GROUP, lambda x: hasattr(x, "load") and hasattr(x, "name"), "a dataset")
        ]
        return cls(loaded)

    def get(self, name: str) -> Any:
        try:
            return self.datasets[name]
        except KeyError:
            raise DatasetNotFoundError(name, self.datasets) from None


def find_dataset(name: str) -> Any:
    """The dataset called `name`. Built-in datasets are found without entry points (so stages
    work from a source checkout too); others through the `quant.datasets` group."""
    if name == SyntheticDataset.name:
        return SyntheticDataset()
    return DatasetCatalog.from_entry_points().get(name)


def load_dataset(name: str, params: dict[str, Any]) -> LoadedData:
    return find_dataset(name).load(params)
