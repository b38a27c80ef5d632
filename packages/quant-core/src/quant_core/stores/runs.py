"""Run records under the store URL, when asked (`store_runs = true`, `QUANT_STORE_RUNS=1`).

The driver writes every run's record in `$QUANT_HOME/runs` as always (appends, the lock, the
progress display work on a local folder); when a run ends, well or not, it publishes the record's
files (and its sleeve runs') to `<store>/runs/<run id>/`, each file atomically. Another machine
pointed at the same store reads a run it does not hold by fetching those files into its own
`runs/` folder first, so `quant runs show` and `quant runs list` see every run of the team.
"""

from __future__ import annotations

from pathlib import Path

from quant_core.artifacts import write_atomic
from quant_core.errors import ParamValidationError
from quant_core.records import RunRecord, validate_run_id
from quant_core.stores.location import StoreLocation

RUNS_FOLDER = "runs"


class RunMirror:
    """The copy of run records under a URL store."""

    def __init__(self, location: StoreLocation, runs_dir: Path) -> None:
        if location.is_local:
            raise ParamValidationError(
                f"store_runs: the store {location.url} is a folder; point the home there instead "
                f"(run records under the store are for URL stores)",
                param="store_runs", value=True, rule="url-store",
            )
        from quant_core.stores.remote import RemoteFiles

        self.files = RemoteFiles(location)
        self.runs_dir = Path(runs_dir)

    def _run_path(self, run_id: str, name: str = "") -> str:
        return self.files.path(RUNS_FOLDER, run_id, name) if name else self.files.path(RUNS_FOLDER, run_id)

    def publish(self, run_id: str) -> None:
        """Copy the record of `run_id` and of its sleeve runs (`<run id>.<sleeve>`) to the store."""
        for folder in self._local_family(run_id):
            for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
                self.files.publish(self._run_path(folder.name, path.name), path.read_bytes())

    def fetch(self, run_id: str) -> bool:
        """Bring `run_id`'s record and its sleeve runs' from the store when this machine has no
        record of them; False when the store has none either."""
        found = False
        for remote_id in self._remote_family(run_id):
            found = True
            local = RunRecord(self.runs_dir, remote_id)
            if local.exists():
                continue
            folder = self._run_path(remote_id)
            self.files.fs.invalidate_cache(folder)
            for path in self.files.fs.ls(folder, detail=False):
                name = path.rstrip("/").rsplit("/", 1)[-1]
                write_atomic(local.path / name, self.files.read(path))
        return found

    def fetch_all(self) -> None:
        """Every run the store holds and this machine does not (for a listing)."""
        for run_id in self.run_ids():
            if not RunRecord(self.runs_dir, run_id).exists():
                self.fetch(run_id)

    def run_ids(self) -> list[str]:
        root = self._run_path_root()
        self.files.fs.invalidate_cache(root)  # another machine may have published since
        try:
            listed = self.files.fs.ls(root, detail=False)
        except FileNotFoundError:
            return []
        return sorted(path.rstrip("/").rsplit("/", 1)[-1] for path in listed)

    def _run_path_root(self) -> str:
        return self.files.path(RUNS_FOLDER)

    def _local_family(self, run_id: str) -> list[Path]:
        validate_run_id(run_id)
        if not self.runs_dir.is_dir():
            return []
        return [p for p in sorted(self.runs_dir.iterdir()) if p.is_dir() and _in_family(p.name, run_id)]

    def _remote_family(self, run_id: str) -> list[str]:
        validate_run_id(run_id)
        return [name for name in self.run_ids() if _in_family(name, run_id)]


def _in_family(name: str, run_id: str) -> bool:
    return name == run_id or name.startswith(f"{run_id}.")


__all__ = ["RunMirror"]
