"""The errors the Ray backend adds to quant's own."""

from __future__ import annotations

from quant_core.errors import ParamValidationError


class RayClusterError(ParamValidationError):
    """The Ray cluster named by `ray_address` / `RAY_ADDRESS` could not be used (unreachable, its
    authentication refused this client, or another Ray already holds this process)."""

    def __init__(self, message: str, *, address: str | None) -> None:
        super().__init__(message, param="ray_address", value=address, rule="reachable")


class RunInterrupted(KeyboardInterrupt):
    """The driver was interrupted (Ctrl-C or SIGTERM) during a run: the run's outstanding Ray tasks
    and sleeve actors were cancelled and its record marked failed; `quant runs resume` continues
    it (finished steps are cache hits).

    A `KeyboardInterrupt`, so callers that stop on Ctrl-C stop on it too (the CLI exits 130)."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(
            f"interrupted by {signal_name}: the run's outstanding Ray tasks and sleeve actors were cancelled"
        )

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):
        return (type(self), (self.signal_name,))
