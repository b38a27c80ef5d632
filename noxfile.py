"""À la carte test sessions: each package installed into a fresh virtualenv with only what it
declares (plus pytest and hypothesis), then its own tests run there.

    uv run nox -s core      # quant-core alone: proves it needs nothing but pydantic and jsonschema
    uv run nox -s stages    # quant-core + quant-stages
    uv run nox -s cli       # quant-core + quant-cli
    uv run nox -s skills    # quant-skills

The workspace's own test run (`uv run pytest`) is `.ci/run`; these sessions catch a package that
only works because a sibling happens to be installed in the workspace environment.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["core", "stages", "cli", "skills"]

PYTHON = "3.11"
TEST_TOOLS = ("pytest", "hypothesis")
CORE = "packages/quant-core"


def _run_tests(session: nox.Session, tests: str) -> None:
    # The root pyproject's pytest settings (importlib import mode, warnings) still apply: pytest
    # finds them from the repository root.
    session.run("pytest", tests, "-q", *session.posargs)


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    session.install(CORE, *TEST_TOOLS)
    _run_tests(session, f"{CORE}/tests")


@nox.session(python=PYTHON)
def stages(session: nox.Session) -> None:
    # quant-core from this checkout first: quant-stages depends on it, and it is not on an index.
    session.install(CORE, "packages/quant-stages", *TEST_TOOLS)
    _run_tests(session, "packages/quant-stages/tests")


@nox.session(python=PYTHON)
def cli(session: nox.Session) -> None:
    session.install(CORE, "packages/quant-cli", *TEST_TOOLS)
    _run_tests(session, "packages/quant-cli/tests")


@nox.session(python=PYTHON)
def skills(session: nox.Session) -> None:
    session.install(CORE, "./skills", *TEST_TOOLS)  # a bare "skills" is a PyPI package
    _run_tests(session, "skills/tests")


@nox.session(python=PYTHON)
def store(session: nox.Session) -> None:
    """The store on object storage: quant-core[store] with stages and the CLI, against moto's S3
    server (not in the default list: it needs more than one package)."""
    session.install(f"{CORE}[store]", "packages/quant-stages", "packages/quant-cli", "moto[server]", "boto3", *TEST_TOOLS)
    _run_tests(session, "tests/store")
