"""One configuration per deployment: where it is found, precedence, schema errors naming the key
and the file, executor options, and the SDK taking the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_core import ProfileCatalog, QuantSDK
from quant_core.config import SETTING_KEYS, ConfigError, QuantConfig, redact
from quant_core.errors import ExecutorNotFoundError, PipelineNotFoundError, ProfileNotFoundError
from quant_core.registry import StageRegistry
from quant_core.testing import toy_profiles, toy_registry

DEPLOYMENT = """
home = "state"
[executor]
name = "dbos"
workers = 3
[executor.dbos]
database_url = "postgresql://quant:s3cret@db.internal:5432/quant"
[executor.ray]
address = "ray://head:10001"
[telemetry]
metrics = true
"""


def load(tmp_path: Path, environ: dict[str, str] | None = None, **kwargs) -> QuantConfig:
    return QuantConfig.load(environ=environ or {}, cwd=tmp_path, **kwargs)


def test_defaults_with_no_file_and_no_environment(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.file is None
    assert config.executor == "local"
    assert config.home.root == tmp_path / ".quant"
    assert set(config.sources.values()) == {"default"}
    assert [row["key"] for row in config.describe()] == SETTING_KEYS


def test_quant_toml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "quant.toml").write_text(DEPLOYMENT)
    config = load(tmp_path)
    assert config.file == tmp_path / "quant.toml"
    assert config.executor == "dbos"
    assert config.settings.executor.workers == 3
    assert config.sources["executor.name"] == f"file {tmp_path / 'quant.toml'}"
    assert config.sources["store"] == "default"
    # a path in a file is taken from the file's folder
    assert config.home.root == tmp_path / "state"


def test_pyproject_tool_quant_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.quant.executor]\nname = "ray"\n')
    config = load(tmp_path)
    assert config.executor == "ray"
    assert config.sources["executor.name"] == f"file {tmp_path / 'pyproject.toml'} [tool.quant]"


def test_pyproject_without_tool_quant_is_not_a_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load(tmp_path).file is None


def test_quant_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.quant.executor]\nname = "ray"\n')
    (tmp_path / "quant.toml").write_text('[executor]\nname = "prefect"\n')
    assert load(tmp_path).executor == "prefect"


def test_quant_config_names_the_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "deploy" / "prod.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(DEPLOYMENT)
    (tmp_path / "quant.toml").write_text('[executor]\nname = "prefect"\n')
    config = load(tmp_path, {"QUANT_CONFIG": "deploy/prod.toml"})
    assert config.file == elsewhere
    assert config.executor == "dbos"
    assert config.home.root == elsewhere.parent / "state"


def test_quant_config_naming_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"QUANT_CONFIG": "nope.toml"})
    assert str(caught.value) == f"QUANT_CONFIG names {tmp_path / 'nope.toml'}, which is not a file"
    assert caught.value.exit_code == 2


def test_precedence_flag_then_environment_then_file_then_default(tmp_path: Path) -> None:
    (tmp_path / "quant.toml").write_text(DEPLOYMENT)
    environ = {"QUANT_EXECUTOR": "ray", "QUANT_HOME": "/srv/quant", "QUANT_WORKERS": "5"}
    config = load(tmp_path, environ, flags={"home": ("--home", "/flag/home"), "executor.name": ("--executor", None)})
    assert (config.value("home"), config.sources["home"]) == ("/flag/home", "flag --home")
    assert (config.executor, config.sources["executor.name"]) == ("ray", "env QUANT_EXECUTOR")
    assert (config.settings.executor.workers, config.sources["executor.workers"]) == (5, "env QUANT_WORKERS")
    assert config.sources["executor.dbos.database_url"] == f"file {tmp_path / 'quant.toml'}"
    assert (config.settings.telemetry.metrics_port, config.sources["telemetry.metrics_port"]) == (9464, "default")


def test_an_empty_environment_variable_is_unset(tmp_path: Path) -> None:
    assert load(tmp_path, {"QUANT_EXECUTOR": ""}).sources["executor.name"] == "default"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[executor]\nnmae = "ray"\n', "unknown key 'executor.nmae'; did you mean 'executor.name'?"),
        ('[executor.rey]\naddress = "x"\n', "unknown key 'executor.rey.address'; did you mean 'executor.ray.address'?"),
        ("[executor]\nworkers = 0\n", "executor.workers = 0: Input should be greater than or equal to 1"),
        ('[executor.prefect]\ntask_runner = "dask"\n', "executor.prefect.task_runner = 'dask': Input should be 'thread' or 'ray'"),
        ('[telemetry]\ntracing = "maybe"\n', "telemetry.tracing = 'maybe': Input should be a valid boolean"),
        ('executor = "ray"\n', "executor is a table of settings (executor.name, executor.workers,"),
    ],
)
def test_a_schema_error_names_the_key_and_the_file(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "quant.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'quant.toml'}: {expected}")
    assert caught.value.exit_code == 2
    assert caught.value.origin == str(tmp_path / "quant.toml")


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"QUANT_WORKERS": "many"})
    assert str(caught.value).startswith("env QUANT_WORKERS: executor.workers = 'many': Input should be a valid integer")


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "quant.toml").write_text("[executor\n")
    with pytest.raises(ConfigError, match=r"quant\.toml: not a readable TOML file"):
        load(tmp_path)


def test_executor_options_come_from_the_chosen_executors_section(tmp_path: Path) -> None:
    (tmp_path / "quant.toml").write_text(DEPLOYMENT)
    config = load(tmp_path)
    url = "postgresql://quant:s3cret@db.internal:5432/quant"
    assert config.executor_options("dbos", ["workers", "dbos_database_url"]) == {"workers": 3, "dbos_database_url": url}
    # another executor's section is not handed to this one
    assert config.executor_options("local", ["workers", "start_method"]) == {"workers": 3}
    # a factory taking any option gets its own section and the shared settings only
    assert config.executor_options("ray", None) == {"workers": 3, "ray_address": "ray://head:10001"}


def test_a_setting_the_chosen_executor_cannot_take_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "quant.toml").write_text(DEPLOYMENT)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path).executor_options("dbos", ["workers"])
    assert str(caught.value).startswith(
        f"executor.dbos.database_url (from file {tmp_path / 'quant.toml'}): executor 'dbos' does not take this setting"
    )


def test_an_engines_own_variable_is_left_to_the_engine(tmp_path: Path) -> None:
    config = load(tmp_path, {"PREFECT_API_URL": "http://127.0.0.1:4200/api", "RAY_ADDRESS": "ray://head:10001"})
    assert config.executor_options("prefect", ["task_runner"]) == {}
    # even when the executor takes it: the engine reads its variable through its own settings
    assert config.executor_options("prefect", ["task_runner", "ray_address", "prefect_api_url"]) == {}
    assert config.executor_options("ray", ["ray_address"]) == {}
    (tmp_path / "quant.toml").write_text('[executor.prefect]\napi_url = "http://prefect:4200/api"\n')
    from_file = load(tmp_path)
    assert from_file.executor_options("prefect", ["prefect_api_url"]) == {"prefect_api_url": "http://prefect:4200/api"}


def test_passwords_are_masked_when_shown(tmp_path: Path) -> None:
    (tmp_path / "quant.toml").write_text(DEPLOYMENT)
    shown = {row["key"]: row["value"] for row in load(tmp_path).describe()}
    assert shown["executor.dbos.database_url"] == "postgresql://quant:***@db.internal:5432/quant"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"
    assert redact(3) == 3


def test_the_sdk_reads_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "quant.toml").write_text('home = "state"\n[executor]\nname = "local"\nworkers = 2\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_HOME", raising=False)
    sdk = QuantSDK(registry=toy_registry(), profiles=ProfileCatalog([toy_profiles()]))
    assert sdk.home.root == tmp_path / "state"
    assert sdk.executor().workers == 2  # the configured executor, with its configured options
    assert sdk.executor("local", workers=1).workers == 1  # an explicit option wins
    result = sdk.run_pipeline("toy.portfolio", run_id="cfg")
    assert result.manifest.executor == "local"
    assert result.record == tmp_path / "state" / "runs" / "cfg"


def test_the_sdk_takes_a_config_object_or_a_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[executor]\nname = "nowhere"\n')
    for given in (path, QuantConfig.load(file=path, environ={}, cwd=tmp_path)):
        sdk = QuantSDK(home=tmp_path / "h", registry=toy_registry(), config=given)
        with pytest.raises(ExecutorNotFoundError):
            sdk.run_pipeline("toy.portfolio", run_id="x")


def test_defaults_with_overrides_read_nothing(tmp_path: Path) -> None:
    config = QuantConfig.defaults(**{"executor.workers": 2})
    assert config.settings.executor.workers == 2 and config.sources["executor.workers"] == "argument"
    with pytest.raises(ConfigError, match="unknown key 'executor.worker'"):
        QuantConfig.defaults(**{"executor.worker": 2})


def test_missing_builtin_names_say_which_package_to_install() -> None:
    registry = StageRegistry()
    with pytest.raises(PipelineNotFoundError) as caught:
        registry.get_pipeline("portfolio.full")
    assert str(caught.value) == (
        "unknown pipeline 'portfolio.full' (it is provided by the package 'quant-stages': pip install quant-stages)"
    )
    assert "pip install quant-stages" in str(ProfileNotFoundError("demo", []))
    assert "pip install quant-compute-ray" in str(ExecutorNotFoundError("ray", ["local"]))
    assert "pip install" not in str(PipelineNotFoundError("mine.full", []))


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(_installed("opentelemetry"), reason="quant-core[otel] is installed")
def test_tracing_asked_for_without_the_extra_says_what_to_install() -> None:
    from quant_core.config import TelemetrySettings
    from quant_core.errors import MissingPackageError
    from quant_core.telemetry import Telemetry

    with pytest.raises(MissingPackageError, match=r"pip install 'quant-core\[otel\]'"):
        Telemetry.from_settings(TelemetrySettings(tracing=True))


@pytest.mark.skipif(_installed("prometheus_client"), reason="quant-core[prometheus] is installed")
def test_metrics_asked_for_without_the_extra_say_what_to_install() -> None:
    from quant_core.config import TelemetrySettings
    from quant_core.errors import MissingPackageError
    from quant_core.telemetry import Telemetry

    with pytest.raises(MissingPackageError, match=r"pip install 'quant-core\[prometheus\]'"):
        Telemetry.from_settings(TelemetrySettings(metrics=True))
