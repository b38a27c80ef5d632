"""What quant's DBOS is configured with: the system database, the application's name and its
version. All three are derived here, the same way by the process that runs a workflow and by the
one that later asks about it (`quant runs list`, `show`, `cancel`).

- System database: the URL given (`--dbos-database-url`, `dbos_database_url=`), else
  `DBOS_SYSTEM_DATABASE_URL` (DBOS's own setting, which a deployment may already have), else
  SQLite at `$QUANT_HOME/dbos/system.sqlite`: nothing to start on a laptop.
- Application name: one per QuantHome (`quant-<hash of its path>`). DBOS scopes recovery and queues
  by application, so homes sharing one PostgreSQL database never recover each other's runs.
- Application version: a hash of quant's own distribution versions (after the application name:
  DBOS wants each version name to belong to one application). DBOS recovers a workflow only
  under the version that started it; its default version hashes the workflow source, which
  changes with DBOS itself and with any edit. Pinned to quant's versions, an upgrade of quant is
  a new version (and a resume that accepts the change continues a run the old one left), nothing
  else is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from quant_core.errors import ParamValidationError
from quant_core.home import QuantHome

DATABASE_URL_ENV = "DBOS_SYSTEM_DATABASE_URL"
SQLITE_FILE = Path("dbos") / "system.sqlite"
VERSIONED_PREFIX = "quant-"
SUPPORTED_SCHEMES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class DbosSettings:
    """One DBOS configuration: a process launches DBOS with exactly one."""

    database_url: str
    application_name: str
    application_version: str

    @property
    def database(self) -> str:
        """The database URL without its password: what is written to run records and messages."""
        return redact(self.database_url)


def settings_for(
    home: QuantHome,
    versions: Mapping[str, str],
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> DbosSettings:
    return DbosSettings(
        database_url=resolve_database_url(home, database_url, environ),
        application_name=application_name(home),
        application_version=application_version(home, versions),
    )


def resolve_database_url(
    home: QuantHome, given: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    environ = os.environ if environ is None else environ
    url = given or environ.get(DATABASE_URL_ENV) or f"sqlite:///{home.root / SQLITE_FILE}"
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in SUPPORTED_SCHEMES or "://" not in url:
        source = "dbos_database_url" if given else DATABASE_URL_ENV
        raise ParamValidationError(
            f"{source}={redact(url)!r} is not a DBOS system database URL: use sqlite:///<path> or "
            f"postgresql://<user>@<host>:<port>/<database>",
            param="dbos_database_url", value=redact(url), rule="database-url",
        )
    if scheme == "sqlite":
        # SQLite creates the file, not its folder.
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    return url


def redact(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`."""
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def application_name(home: QuantHome) -> str:
    return f"quant-{hashlib.sha256(str(home.root).encode()).hexdigest()[:12]}"


def application_version(home: QuantHome, versions: Mapping[str, str]) -> str:
    """`<application name>-v<hash of quant's versions>`: DBOS wants a version name to belong to
    one application of a system database."""
    quant = {name: version for name, version in sorted(versions.items()) if name.startswith(VERSIONED_PREFIX)}
    digest = hashlib.sha256(json.dumps(quant, sort_keys=True).encode()).hexdigest()[:12]
    return f"{application_name(home)}-v{digest}"
