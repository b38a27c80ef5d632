"""One configuration per deployment: which executor, how to reach its engine, where the state
lives, and what is observed.

Where the file is (the first that exists):

1. the file named by `QUANT_CONFIG` (a `quant.toml`, or a `pyproject.toml` whose `[tool.quant]`
   table is read);
2. `quant.toml` in the working directory;
3. the `[tool.quant]` table of `pyproject.toml` in the working directory.

Each setting is taken from, in this order: a command-line flag (or an explicit SDK argument), the
environment, the file, the default. Every layer is checked against the same schema, so a typo is
an error naming the key and where it was written (exit 2), not a setting silently ignored.

    home = ".quant"                       # QUANT_HOME; relative to the file's folder
    store = "s3://bucket/prefix"          # QUANT_STORE; default: the home
    store_options = { endpoint_url = "http://minio:9000" }   # QUANT_STORE_OPTIONS (JSON)
    store_read_cache = "/var/cache/quant" # QUANT_STORE_READ_CACHE; default ~/.cache/quant/store
    store_runs = true                     # QUANT_STORE_RUNS; run records also under <store>/runs

    [executor]
    name = "dbos"                         # QUANT_EXECUTOR
    workers = 4                           # QUANT_WORKERS
    [executor.ray]
    address = "ray://head:10001"          # RAY_ADDRESS
    [executor.prefect]
    api_url = "http://prefect:4200/api"   # PREFECT_API_URL
    task_runner = "ray"                   # QUANT_PREFECT_TASK_RUNNER
    [executor.dbos]
    database_url = "postgresql://..."     # QUANT_DBOS_DATABASE_URL

    [telemetry]
    tracing = true                        # QUANT_TRACING (OpenTelemetry; exporters from OTEL_*)
    metrics = true                        # QUANT_METRICS (Prometheus)
    metrics_port = 9464                   # QUANT_METRICS_PORT (/metrics of long-running processes)
    pushgateway_url = "http://pgw:9091"   # QUANT_PUSHGATEWAY_URL (short runs push when set)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from quant_core.errors import ParamValidationError, close_matches
from quant_core.home import QuantHome
from quant_core.stores.location import StoreLocation, parse_options

CONFIG_ENV = "QUANT_CONFIG"
CONFIG_FILE = "quant.toml"
PYPROJECT_FILE = "pyproject.toml"


class ConfigError(ParamValidationError):
    """A configuration value broke the schema; names the key and where it was written."""

    def __init__(self, message: str, *, key: str | None = None, origin: str | None = None, value: Any = None) -> None:
        super().__init__(message, param=key, value=value, rule="config")
        self.key = key
        self.origin = origin


# -- the schema ----------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class RaySettings(_Section):
    address: str | None = Field(None, description="Ray cluster to join; default: a local Ray for the run.")


class PrefectSettings(_Section):
    api_url: str | None = Field(None, description="Prefect server API; default: Prefect's own setting.")
    task_runner: Literal["thread", "ray"] | None = Field(None, description="Task runner for the sleeves.")


class DbosSettings(_Section):
    database_url: str | None = Field(
        None, description="DBOS system database (sqlite:///... or postgresql://...); default SQLite under the home."
    )


class ExecutorSettings(_Section):
    name: str = Field("local", min_length=1, description="Executor the runs use: local, ray, prefect, dbos.")
    workers: int | None = Field(None, ge=1, description="Worker processes for a fan-out's sleeves.")
    ray: RaySettings = RaySettings()
    prefect: PrefectSettings = PrefectSettings()
    dbos: DbosSettings = DbosSettings()


class TelemetrySettings(_Section):
    tracing: bool = Field(False, description="OpenTelemetry spans per run, stage and sleeve (quant-core[otel]).")
    metrics: bool = Field(False, description="Prometheus metrics per stage execution (quant-core[prometheus]).")
    metrics_port: int = Field(9464, ge=1, le=65535, description="Port of /metrics on long-running processes.")
    pushgateway_url: str | None = Field(None, description="Pushgateway that short runs push their metrics to.")


StoreOption = str | int | float | bool


def _json_object(value: Any) -> Any:
    """A JSON object given as text (an environment variable, a flag) becomes a table."""
    if isinstance(value, str):
        return parse_options(value, source="store_options")
    return value


class Settings(_Section):
    home: str = Field(".quant", min_length=1, description="Where runs, artifacts, the cache and profiles live.")
    store: str | None = Field(None, description="Artifacts and cache location (path or URL); default: the home.")
    store_options: Annotated[dict[str, StoreOption] | None, BeforeValidator(_json_object)] = Field(
        None, description="fsspec storage options of a URL store (a table, or a JSON object in the environment)."
    )
    store_read_cache: str | None = Field(
        None, description="Folder of this machine's read-through cache of a URL store; default ~/.cache/quant/store."
    )
    store_runs: bool = Field(False, description="Also publish run records under <store>/runs and read them from there.")
    executor: ExecutorSettings = ExecutorSettings()
    telemetry: TelemetrySettings = TelemetrySettings()


#: The environment variable of each setting (dotted key).
ENVIRONMENT: dict[str, str] = {
    "home": "QUANT_HOME",
    "store": "QUANT_STORE",
    "store_options": "QUANT_STORE_OPTIONS",
    "store_read_cache": "QUANT_STORE_READ_CACHE",
    "store_runs": "QUANT_STORE_RUNS",
    "executor.name": "QUANT_EXECUTOR",
    "executor.workers": "QUANT_WORKERS",
    "executor.ray.address": "RAY_ADDRESS",
    "executor.prefect.api_url": "PREFECT_API_URL",
    "executor.prefect.task_runner": "QUANT_PREFECT_TASK_RUNNER",
    "executor.dbos.database_url": "QUANT_DBOS_DATABASE_URL",
    "telemetry.tracing": "QUANT_TRACING",
    "telemetry.metrics": "QUANT_METRICS",
    "telemetry.metrics_port": "QUANT_METRICS_PORT",
    "telemetry.pushgateway_url": "QUANT_PUSHGATEWAY_URL",
}

#: Executor option -> (the setting it comes from, the executor whose section holds it; None: any).
#: These are the options the CLI's flags give (`--workers`, `--ray-address`, ...), so a deployment
#: file and the flags reach an executor the same way.
EXECUTOR_OPTIONS: dict[str, tuple[str, str | None]] = {
    "workers": ("executor.workers", None),
    "ray_address": ("executor.ray.address", "ray"),
    "task_runner": ("executor.prefect.task_runner", "prefect"),
    "prefect_api_url": ("executor.prefect.api_url", "prefect"),
    "dbos_database_url": ("executor.dbos.database_url", "dbos"),
}

#: An engine's own environment variable is left to the engine, which reads it itself through its
#: own settings (where a program may override it in-process: Prefect's `temporary_settings`, a
#: Prefect profile), even when the executor takes the setting as an option: only a flag, the file
#: or an explicit option is handed to the executor.
ENGINE_VARIABLES = ("RAY_ADDRESS", "PREFECT_API_URL")
_ENGINE_VARIABLE_SOURCES = frozenset(f"env {variable}" for variable in ENGINE_VARIABLES)

#: Settings that name a location on disk: relative values are taken from the file's folder.
_PATH_SETTINGS = ("home", "store", "store_read_cache")


def setting_keys(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Every setting's dotted key, in schema order."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(setting_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


SETTING_KEYS = setting_keys()


# -- the effective configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class QuantConfig:
    """The effective settings and, for each, where it came from: `flag <name>`, `env <VAR>`,
    `file <path>` or `default`."""

    settings: Settings
    sources: dict[str, str]
    file: Path | None = None

    @classmethod
    def load(
        cls,
        *,
        file: str | os.PathLike[str] | None = None,
        flags: Mapping[str, tuple[str, Any]] | None = None,
        environ: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> QuantConfig:
        """The configuration of this process. `file` replaces the search (like `QUANT_CONFIG`);
        `flags` maps a dotted key to (the flag's name, its value) for values given on a command
        line; `environ` and `cwd` default to the process's own."""
        environ = os.environ if environ is None else environ
        folder = Path.cwd() if cwd is None else Path(cwd)
        found = find_config_file(folder, environ, explicit=file)
        layers: list[tuple[Callable[[str], str], dict[str, Any]]] = []
        if flags:
            given = {key: value for key, (_, value) in flags.items() if value is not None}
            _check_layer(given, lambda key: f"flag {flags[key][0]}")
            layers.append((lambda key: f"flag {flags[key][0]}", given))
        from_env = {key: environ[var] for key, var in ENVIRONMENT.items() if environ.get(var)}
        _check_layer(from_env, lambda key: f"env {ENVIRONMENT[key]}")
        layers.append((lambda key: f"env {ENVIRONMENT[key]}", from_env))
        if found is not None:
            where, from_file = _read_file(found)
            layers.append((lambda key: f"file {where}", from_file))
        merged: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key in SETTING_KEYS:
            for source, values in layers:
                if key in values:
                    merged[key] = values[key]
                    sources[key] = source(key)
                    break
            else:
                sources[key] = "default"
        settings = Settings.model_validate(_nest(merged))
        return cls(settings=_absolute_paths(settings, sources, found, folder), sources=sources, file=found)

    @classmethod
    def defaults(cls, **overrides: Any) -> QuantConfig:
        """The built-in defaults with `overrides` (dotted keys) laid over them: for tests and
        programs that must not read the environment or a file."""
        _check_layer(overrides, lambda key: f"argument {key}")
        sources = {key: "argument" if key in overrides else "default" for key in SETTING_KEYS}
        return cls(settings=Settings.model_validate(_nest(overrides)), sources=sources)

    def value(self, key: str) -> Any:
        found: Any = self.settings
        for part in key.split("."):
            found = getattr(found, part)
        return found

    @property
    def executor(self) -> str:
        return self.settings.executor.name

    @property
    def home(self) -> QuantHome:
        """The home, with the store these settings give (default: the home itself)."""
        root = Path(self.settings.home)
        return QuantHome(root, self.store_location(root))

    def store_location(self, home: Path) -> StoreLocation:
        """The store these settings give, the folder `home` when they name none."""
        settings = self.settings
        return StoreLocation.parse(
            settings.store if settings.store is not None else home,
            options=settings.store_options, read_cache=settings.store_read_cache, runs=settings.store_runs,
        )

    def executor_options(self, name: str, accepted: list[str] | None) -> dict[str, Any]:
        """The options the settings give executor `name`, whose factory takes `accepted` (None:
        any option). A setting in the executor's own section that it does not take is an error
        naming the key: the deployment asked for something this executor cannot do."""
        options: dict[str, Any] = {}
        for option, (key, owner) in EXECUTOR_OPTIONS.items():
            value = self.value(key)
            if value is None or self.sources[key] in _ENGINE_VARIABLE_SOURCES:
                continue
            takes = (owner in (None, name)) if accepted is None else option in accepted
            if takes:
                options[option] = value
            elif owner == name and not self.sources[key].startswith("env "):
                # (an engine's own variable, RAY_ADDRESS or PREFECT_API_URL, is also read by the
                # engine itself: the executor need not take it as an option)
                raise ConfigError(
                    f"{key} (from {self.sources[key]}): executor {name!r} does not take this setting "
                    f"(it takes: {', '.join(accepted or []) or 'no options'})",
                    key=key, origin=self.sources[key], value=value,
                )
        return options

    def describe(self) -> list[dict[str, Any]]:
        """Every setting, its effective value (passwords in URLs masked), where it came from
        and its environment variable: what `quant config show` prints."""
        return [
            {"key": key, "value": redact(self.value(key)), "source": self.sources[key], "env": ENVIRONMENT.get(key)}
            for key in SETTING_KEYS
        ]


def find_config_file(
    cwd: Path, environ: Mapping[str, str], explicit: str | os.PathLike[str] | None = None
) -> Path | None:
    named = explicit if explicit is not None else environ.get(CONFIG_ENV) or None
    if named is not None:
        path = (cwd / Path(named).expanduser()).absolute()
        if not path.is_file():
            origin = "the config file given" if explicit is not None else f"{CONFIG_ENV}"
            raise ConfigError(f"{origin} names {path}, which is not a file", key=CONFIG_ENV, value=str(named))
        return path
    candidate = cwd / CONFIG_FILE
    if candidate.is_file():
        return candidate.absolute()
    pyproject = cwd / PYPROJECT_FILE
    if pyproject.is_file() and "quant" in _parse_toml(pyproject).get("tool", {}):
        return pyproject.absolute()
    return None


def _parse_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable TOML file: {exc}", origin=str(path)) from None


def _read_file(path: Path) -> tuple[str, dict[str, Any]]:
    """Where the settings were read (the file, and the table of a pyproject) and the settings."""
    document = _parse_toml(path)
    if path.name == PYPROJECT_FILE:
        document = document.get("tool", {}).get("quant", {})
        where = f"{path} [tool.quant]"
    else:
        where = str(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: [tool.quant] must be a table", origin=where)
    flat = _flatten(document)
    _check_layer(flat, lambda key: where)
    return where, flat


def _flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys down to the schema's leaves; a table where the schema has a value (or the
    reverse) stays as it is, for the schema to refuse with the key's name."""
    flat: dict[str, Any] = {}
    for name, value in document.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in SETTING_KEYS:
            flat.update(_flatten(value, f"{key}."))
        else:
            flat[key] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        table = nested
        for part in parents:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                break
        else:
            table[leaf] = value
    return nested


def _check_layer(flat: Mapping[str, Any], origin_of: Callable[[str], str]) -> None:
    """Validate one layer on its own, so an error names where the bad value was written."""
    for key, value in flat.items():
        section = [k for k in SETTING_KEYS if k.startswith(f"{key}.")]
        if section:
            raise ConfigError(
                f"{origin_of(key)}: {key} is a table of settings ({', '.join(section)}), not a value",
                key=key, origin=origin_of(key), value=value,
            )
        if key not in SETTING_KEYS:
            hint = close_matches(key, SETTING_KEYS, n=1)
            suggestion = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            raise ConfigError(
                f"{origin_of(key)}: unknown key {key!r}{suggestion} (known keys: {', '.join(SETTING_KEYS)})",
                key=key, origin=origin_of(key), value=value,
            )
    try:
        Settings.model_validate(_nest(flat))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        origin = origin_of(key) if key in flat else origin_of(next(iter(flat)))
        raise ConfigError(
            f"{origin}: {key} = {error.get('input')!r}: {error['msg']}", key=key, origin=origin, value=error.get("input")
        ) from None


def _absolute_paths(settings: Settings, sources: Mapping[str, str], file: Path | None, cwd: Path) -> Settings:
    """A path written in a file is relative to the file's folder; any other to the working
    directory. URLs (`s3://...`) are left as they are."""
    update: dict[str, str] = {}
    for key in _PATH_SETTINGS:
        value = getattr(settings, key)
        if value is None or "://" in value:
            continue
        base = file.parent if file is not None and sources[key].startswith("file ") else cwd
        update[key] = str((base / Path(value).expanduser()).absolute())
    return settings.model_copy(update=update)


def redact(value: Any) -> Any:
    """A URL with its password masked (`postgresql://user:***@host/db`); anything else as is."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "ENVIRONMENT",
    "EXECUTOR_OPTIONS",
    "SETTING_KEYS",
    "ConfigError",
    "QuantConfig",
    "Settings",
    "TelemetrySettings",
    "find_config_file",
    "redact",
]
