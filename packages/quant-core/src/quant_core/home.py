"""Where quant keeps its state: `$QUANT_HOME` (default `./.quant`).

    artifacts/   content-addressed artifact store
    runs/<id>/   one record per run
    cache/       stage outputs by cache key
    profiles/    user profiles
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from quant_core.artifacts import ArtifactStore

QUANT_HOME_ENV = "QUANT_HOME"
DEFAULT_HOME = ".quant"


@dataclass(frozen=True)
class QuantHome:
    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> QuantHome:
        """An explicit root wins; else `$QUANT_HOME`; else `./.quant`. Made absolute, so that
        workers started in another directory find the same state."""
        environ = os.environ if environ is None else environ
        chosen = root if root is not None else environ.get(QUANT_HOME_ENV) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().absolute())

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
        return ArtifactStore(self.artifacts_dir)
