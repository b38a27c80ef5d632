"""Which Prefect API the flows talk to: `PREFECT_API_URL` when set, else Prefect's ephemeral
server, started by quant with a start-up timeout that a loaded machine can meet.

Prefect's own ephemeral start gives up after 20 s (slower than that on a busy machine with a
fresh `PREFECT_HOME`), and its in-process default leaves `PREFECT_API_URL` unset, so each Ray
worker would start an ephemeral server of its own. Starting the same `SubprocessASGIServer`
here and running the flow with its URL set gives every process of the run one real API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED, temporary_settings
from quant_core.errors import ParamValidationError

EPHEMERAL_START_TIMEOUT_S = 180


@contextlib.contextmanager
def prefect_api() -> Iterator[str]:
    """Run the block against a real Prefect API and give its URL."""
    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    if not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        raise ParamValidationError(
            "executor prefect: PREFECT_API_URL is not set and Prefect's ephemeral server is "
            "disabled (PREFECT_SERVER_EPHEMERAL_ENABLED=false): set PREFECT_API_URL to your "
            "Prefect server, e.g. http://127.0.0.1:4200/api after `prefect server start`",
            param="PREFECT_API_URL", value=None, rule="required",
        )
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # one per process: Prefect's own ephemeral server
    server.start(timeout=EPHEMERAL_START_TIMEOUT_S)
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server.api_url
