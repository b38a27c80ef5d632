"""What a profile file may say. Unknown keys are errors that give the key's path."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from quant_core.context import NAME_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileHeader(_Strict):
    name: str | None = None
    description: str = ""
    kind: Literal["portfolio", "meta"] = "portfolio"


class DataSection(_Strict):
    """The data source, bound to every stage that loads data (discovery.universe, selection.ingestion)."""

    dataset: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    candidates_path: str | None = None
    returns_path: str | None = None


class SleeveEntry(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    profile: str
    min_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    max_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ProfileFile(_Strict):
    profile: ProfileHeader = Field(default_factory=ProfileHeader)
    data: DataSection | None = None
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sleeves: list[SleeveEntry] = Field(default_factory=list)
