"""Profiles: named parameter sets. Core defines what a resolved profile is; providers (quant-stages
ships the TOML one) are found through the `quant.profiles` entry point group."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from quant_core.context import SleeveSpec, StageParamsMap
from quant_core.entrypoints import PROFILES_GROUP, iter_loaded
from quant_core.errors import ProfileNotFoundError
from quant_core.home import QuantHome


class ResolvedProfile(BaseModel):
    """A profile after loading and validation: per-stage params, and sleeves for a meta profile."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    kind: Literal["portfolio", "meta"] = "portfolio"
    description: str = ""
    source: str = ""
    stage_params: StageParamsMap = Field(default_factory=dict)
    sleeves: list[SleeveSpec] = Field(default_factory=list)


@runtime_checkable
class ProfileProvider(Protocol):
    def names(self, home: QuantHome) -> list[str]: ...

    def resolve(self, name: str, home: QuantHome) -> ResolvedProfile | None:
        """The profile called `name` (or at that path), or None if this provider does not know it."""


class ProfileCatalog:
    """Every installed provider, asked in entry-point name order."""

    def __init__(self, providers: list[ProfileProvider]) -> None:
        self.providers = providers

    @classmethod
    def from_entry_points(cls) -> ProfileCatalog:
        providers = [
            item() if isinstance(item, type) else item
            for _, item in iter_loaded(
                PROFILES_GROUP, lambda x: isinstance(x, type) or isinstance(x, ProfileProvider), "a ProfileProvider"
            )
        ]
        return cls(providers)

    def names(self, home: QuantHome) -> list[str]:
        return sorted({name for p in self.providers for name in p.names(home)})

    def resolve(self, name: str, home: QuantHome) -> ResolvedProfile:
        for provider in self.providers:
            found = provider.resolve(name, home)
            if found is not None:
                return found
        raise ProfileNotFoundError(name, self.names(home))
