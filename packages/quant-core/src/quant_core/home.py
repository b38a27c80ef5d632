"""Where quant keeps its state: `$QUANT_HOME` (default `./.quant`).

    artifacts/   content-addressed artifact store  } the store: here by default, or at the path
    cache/       stage outputs by cache key         } or URL of `--store` / `QUANT_STORE`
    runs/<id>/   one record per run (written by the driver)
    profiles/    user profiles
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quant_core.stores.location import StoreLocation

if TYPE_CHECKING:
    from quant_core.artifacts import ArtifactStore
    from quant_core.cache import StageCache

QUANT_HOME_ENV = "QUANT_HOME"
DEFAULT_HOME = ".quant"


@dataclass(frozen=True)
class QuantHome:
    root: Path
    #: Where artifacts and the cache live; None: in `root`. It travels with the `Runtime` to every
    #: worker, which builds its stores from it (never from its own environment).
    store: StoreLocation | None = None

    @classmethod
    def resolve(
        cls,
        root: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        store: str | os.PathLike[str] | StoreLocation | None = None,
        store_options: Mapping[str, Any] | None = None,
    ) -> QuantHome:
        """An explicit root wins; else `$QUANT_HOME`; else `./.quant`. Made absolute, so that
        workers started in another directory find the same state. The store: `store` (a path or
        URL, with `store_options` for fsspec), else the home itself (`QUANT_STORE` and the other
        settings of a deployment are read by `quant_core.config`)."""
        environ = os.environ if environ is None else environ
        chosen = root if root is not None else environ.get(QUANT_HOME_ENV) or DEFAULT_HOME
        home = Path(chosen).expanduser().absolute()
        if isinstance(store, StoreLocation):
            location = store
        elif store is not None:
            location = StoreLocation.parse(store, options=store_options)
        else:
            location = StoreLocation.parse(home)
        return cls(home, location)

    @property
    def store_location(self) -> StoreLocation:
        return self.store if self.store is not None else StoreLocation.parse(self.root)

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    def artifact_store(self) -> ArtifactStore:
        return self.store_location.artifact_store()

    def stage_cache(self) -> StageCache:
        return self.store_location.stage_cache()
