"""`quant worker dbos`: the backend is imported only when the command runs; without it the
command names the package to install (exit 3). (A real worker finishing a crashed driver's run is
tested with the backend, in quant-flows-dbos.)"""

from __future__ import annotations

import json
import sys

import pytest


def test_the_worker_without_the_dbos_backend_says_what_to_install(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "quant_flows_dbos", None)
    monkeypatch.setitem(sys.modules, "quant_flows_dbos.worker", None)
    result = cli("worker", "dbos", "--metrics-port", "0", "--json")
    assert result.exit_code == 3
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "MissingPackageError" and "pip install 'quant-flows-dbos'" in error["message"]


def test_the_worker_is_listed_with_its_options(cli) -> None:
    result = cli("worker", "dbos", "--help")
    assert result.exit_code == 0
    for option in ("--dbos-database-url", "--metrics-port", "--metrics-host", "--recover-every", "--grace"):
        assert option in result.stdout
