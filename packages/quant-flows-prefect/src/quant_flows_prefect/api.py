"""Which Prefect API the flows talk to: the URL quant is given (`prefect_api_url`, the
`[executor.prefect] api_url` setting), else `PREFECT_API_URL`, else Prefect's ephemeral server,
started by quant with a start-up timeout that a loaded machine can meet.

A given URL is set in Prefect's settings context for the block (`temporary_settings`), not in
the environment: the flow run, its task runs in threads, Ray workers (prefect-ray hands them the
settings context) and a deployment's run subprocesses (Prefect serialises the settings context
into them) all talk to it, and nothing of the process outlives the block.

Prefect's own ephemeral start gives up after 20 s (slower than that on a busy machine with a
fresh `PREFECT_HOME`), and its in-process default leaves `PREFECT_API_URL` unset, so each Ray
worker would start an ephemeral server of its own. Starting the same `SubprocessASGIServer`
here and running the flow with its URL set gives every process of the run one real API.

That temporary server lives for one quant command: its usage analytics are off unless the user
set them (`PREFECT_SERVER_ANALYTICS_ENABLED`, environment or profile). Left on, its telemetry
heartbeat races the server's own start-up writes to its SQLite database and prints a
"database is locked" traceback into every run's output (Prefect 3.8.8).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_EPHEMERAL_ENABLED,
    get_current_settings,
    temporary_settings,
)
from quant_core.errors import ParamValidationError

EPHEMERAL_START_TIMEOUT_S = 180


def check_api_url(api_url: str | None) -> str | None:
    """A given Prefect API URL, or a parameter error naming the option."""
    if api_url is not None and not api_url.startswith(("http://", "https://")):
        raise ParamValidationError(
            f"prefect_api_url={api_url!r} is not a Prefect API URL: give the server's API, e.g. "
            f"http://127.0.0.1:4200/api",
            param="prefect_api_url", value=api_url, rule="http-url",
        )
    return api_url


@contextlib.contextmanager
def prefect_api(api_url: str | None = None) -> Iterator[str]:
    """Run the block against a real Prefect API (`api_url` when given) and give its URL."""
    if api_url is not None:
        with temporary_settings(updates={PREFECT_API_URL: check_api_url(api_url)}):
            yield api_url
        return
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
    with temporary_settings(updates=ephemeral_server_settings()):  # the server process inherits them
        server.start(timeout=EPHEMERAL_START_TIMEOUT_S)
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server.api_url


def ephemeral_server_settings() -> dict:
    """The settings quant changes for the temporary server it starts: analytics off, unless the
    user set them."""
    chosen = get_current_settings().to_environment_variables(exclude_unset=True)
    if PREFECT_SERVER_ANALYTICS_ENABLED.name in chosen:
        return {}
    return {PREFECT_SERVER_ANALYTICS_ENABLED: False}
