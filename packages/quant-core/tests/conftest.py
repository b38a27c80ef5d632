"""Fixtures shared by quant-core's tests: a throw-away QuantHome and an SDK over the toy stages.

Nothing here touches the process-wide default registry or the real `$QUANT_HOME`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from quant_core import ProfileCatalog, QuantHome, QuantSDK, StageRegistry
from quant_core.testing import toy_profiles, toy_registry

# Tests run with --import-mode=importlib, so this folder is not importable by default; the shared
# hypothesis strategies live in `core_strategies.py`, a name no other package's tests use.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.append(_TESTS_DIR)


@pytest.fixture
def home(tmp_path: Path) -> QuantHome:
    return QuantHome.resolve(tmp_path / "quant-home", environ={})


@pytest.fixture
def registry() -> StageRegistry:
    return toy_registry()


@pytest.fixture
def make_sdk(home: QuantHome) -> Callable[..., QuantSDK]:
    """An SDK over `home` and the toy registry; `failing_sleeves` names sleeves of the `trio`
    meta profile whose `toy.scale` step fails."""

    def make(
        failing_sleeves: tuple[str, ...] = (), registry: StageRegistry | None = None
    ) -> QuantSDK:
        return QuantSDK(
            home=home,
            registry=registry if registry is not None else toy_registry(),
            profiles=ProfileCatalog([toy_profiles(failing_sleeves)]),
        )

    return make


@pytest.fixture
def sdk(make_sdk: Callable[..., QuantSDK], registry: StageRegistry) -> QuantSDK:
    return make_sdk(registry=registry)
