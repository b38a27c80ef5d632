"""À la carte test sessions from wheels: every package is built into a wheel once
(`uv build --all-packages`), and each session installs into a fresh virtualenv only the wheels a
user would `pip install` for that combination (plus pytest and hypothesis), then runs that
combination's tests from this checkout.

    uv run nox -s wheels        # build the wheels; check metadata (twine), versions, ranges, skills data
    uv run nox -s core          # pip install quant-core: needs nothing but pydantic and jsonschema
    uv run nox -s stages        # quant-core quant-stages
    uv run nox -s cli           # quant-core quant-cli
    uv run nox -s skills        # quant-skills
    uv run nox -s ray           # quant-core quant-stages quant-cli quant-compute-ray (a real local Ray)
    uv run nox -s prefect       # quant-core quant-stages quant-cli quant-flows-prefect (a real Prefect server)
    uv run nox -s prefect-ray   # ... quant-flows-prefect quant-compute-ray (Prefect sleeves on Ray)
    uv run nox -s dbos          # quant-core quant-stages quant-cli quant-flows-dbos (PostgreSQL's
                                # initdb/pg_ctl for its PostgreSQL tests, as .ci/run installs them)
    uv run nox -s store         # quant-core[store] quant-stages quant-cli, against moto's S3 server
    uv run nox -s all           # everything with every extra: the whole test suite

The workspace's own test run (`uv run pytest`) is `.ci/run`; these sessions catch a package that
works only because a sibling, a source tree or a workspace-only dependency happens to be there.
Every session that installs quant-stages also runs its hypothesis idempotency properties.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["wheels", "core", "stages", "cli", "skills"]

PYTHON = "3.11"
ROOT = Path(__file__).resolve().parent
WHEELS = ROOT / "dist" / "wheels"
TEST_TOOLS = ("pytest", "hypothesis")
IDEMPOTENCY = "packages/quant-stages/tests/test_idempotency.py"

#: distribution -> its tests folder
TESTS = {
    "quant-core": "packages/quant-core/tests",
    "quant-stages": "packages/quant-stages/tests",
    "quant-cli": "packages/quant-cli/tests",
    "quant-skills": "skills/tests",
    "quant-compute-ray": "packages/quant-compute-ray/tests",
    "quant-flows-prefect": "packages/quant-flows-prefect/tests",
    "quant-flows-dbos": "packages/quant-flows-dbos/tests",
}

_built: list[Path] = []


def wheel_files(session: nox.Session) -> dict[str, Path]:
    """distribution -> its wheel, built once per nox invocation (old wheels removed first)."""
    if not _built:
        shutil.rmtree(WHEELS, ignore_errors=True)
        session.run("uv", "build", "--all-packages", "--wheel", "--out-dir", str(WHEELS), external=True, silent=True)
        _built.extend(sorted(WHEELS.glob("*.whl")))
    return {path.name.split("-")[0].replace("_", "-"): path for path in _built}


def install_wheels(session: nox.Session, *requirements: str) -> None:
    """Install quant distributions from their wheels, e.g. "quant-core[otel,prometheus]"; their
    third-party dependencies come from the package index, as for a user."""
    wheels = wheel_files(session)
    specs = []
    for requirement in requirements:
        name, _, extras = requirement.partition("[")
        specs.append(f"{name}{'[' + extras if extras else ''} @ {wheels[name].as_uri()}")
    session.install(*specs, *TEST_TOOLS)


def run_tests(session: nox.Session, *distributions: str, extra: tuple[str, ...] = ()) -> None:
    # The root pyproject's pytest settings (importlib import mode, warnings) still apply: pytest
    # finds them from the repository root. A backend's tests folder appears with its backend.
    folders = [TESTS[d] for d in distributions if (ROOT / TESTS[d]).is_dir()]
    session.run("pytest", *folders, *extra, "-q", *session.posargs)


@nox.session(python=PYTHON)
def wheels(session: nox.Session) -> None:
    """Build every wheel; check each one's metadata, the versions and ranges, the skills' files."""
    built = wheel_files(session)
    session.install("twine", "packaging")
    session.run("twine", "check", "--strict", *map(str, built.values()))
    session.run("python", "tools/check_wheels.py", str(WHEELS))


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    install_wheels(session, "quant-core")
    run_tests(session, "quant-core")


@nox.session(python=PYTHON)
def stages(session: nox.Session) -> None:
    # skfolio: the reference the HRP tests compare against (a test peer, not a dependency)
    install_wheels(session, "quant-core", "quant-stages")
    session.install("skfolio")
    run_tests(session, "quant-stages")


@nox.session(python=PYTHON)
def cli(session: nox.Session) -> None:
    install_wheels(session, "quant-core", "quant-cli")
    run_tests(session, "quant-cli")


@nox.session(python=PYTHON)
def skills(session: nox.Session) -> None:
    install_wheels(session, "quant-skills")
    # skills-ref: the Agent Skills format's reference validator, which the skills tests run next
    # to the project's own.
    session.install("skills-ref")
    run_tests(session, "quant-skills")


@nox.session(python=PYTHON)
def ray(session: nox.Session) -> None:
    # quant-cli too: the tests join a head node through `quant ... --ray-address`.
    install_wheels(session, "quant-core", "quant-stages", "quant-cli", "quant-compute-ray")
    run_tests(session, "quant-compute-ray", extra=(IDEMPOTENCY,))


@nox.session(python=PYTHON)
def prefect(session: nox.Session) -> None:
    # quant-cli too: the deployment tests serve flows with `quant deploy prefect`.
    install_wheels(session, "quant-core", "quant-stages", "quant-cli", "quant-flows-prefect")
    run_tests(session, "quant-flows-prefect", extra=(IDEMPOTENCY,))


@nox.session(python=PYTHON, name="prefect-ray")
def prefect_ray(session: nox.Session) -> None:
    install_wheels(session, "quant-core", "quant-stages", "quant-cli", "quant-flows-prefect", "quant-compute-ray")
    run_tests(session, "quant-flows-prefect", "quant-compute-ray", extra=(IDEMPOTENCY,))


@nox.session(python=PYTHON)
def dbos(session: nox.Session) -> None:
    # quant-cli too: the crash tests resume meta.full with `quant runs resume`.
    install_wheels(session, "quant-core", "quant-stages", "quant-cli", "quant-flows-dbos")
    run_tests(session, "quant-flows-dbos", extra=(IDEMPOTENCY,))


@nox.session(python=PYTHON, name="all")
def all_packages(session: nox.Session) -> None:
    """Every wheel with every extra: the whole suite (the root pyproject's testpaths)."""
    install_wheels(
        session, "quant-core[otlp,prometheus,store]", "quant-stages", "quant-cli", "quant-skills",
        "quant-compute-ray", "quant-flows-prefect", "quant-flows-dbos",
    )
    # skfolio: the reference the HRP tests compare against; skills-ref: the skills format's validator
    session.install("skfolio", "skills-ref")
    session.install("moto[server]", "boto3")  # tests/store: a real local S3 server
    session.run("pytest", "-q", *session.posargs)


@nox.session(python=PYTHON)
def store(session: nox.Session) -> None:
    """Artifacts and the cache on object storage: tests/store against moto's S3 server."""
    install_wheels(session, "quant-core[store]", "quant-stages", "quant-cli")
    session.install("moto[server]", "boto3")
    session.run("pytest", "tests/store", "-q", *session.posargs)
