"""`--param name=value` parsing. Values stay text: quant-core coerces them by each stage's schema."""

from __future__ import annotations

import re
from collections.abc import Sequence

from quant_core.errors import ParamValidationError

#: A bare parameter name (`n`) or one qualified by its stage (`selection.clustering.distance_threshold`).
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_params(items: Sequence[str] | None) -> dict[str, str]:
    """`["n=5", "toy.scale.factor=0.5"]` -> `{"n": "5", "toy.scale.factor": "0.5"}`.

    Splits on the first `=`, so values may contain `=`. A missing `=`, an empty or ill-formed name,
    or a name given twice is a `ParamValidationError` (exit code 2) that quotes the offending item.
    """
    parsed: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ParamValidationError(
                f"malformed --param {item!r}: expected name=value (e.g. --param n=5)",
                param="--param", value=item, rule="format",
            )
        if not _KEY.match(name):
            raise ParamValidationError(
                f"malformed --param {item!r}: {name!r} is not a parameter name (letters, digits "
                f"and '_', optionally prefixed by a stage id: stage.id.name=value)",
                param="--param", value=item, rule="format",
            )
        if name in parsed:
            raise ParamValidationError(
                f"--param {name!r} is given twice ({parsed[name]!r} and {value!r}); give it once",
                param=name, value=value, rule="repeated",
            )
        parsed[name] = value
    return parsed


def strip_stage_prefix(params: dict[str, str], stage_id: str) -> dict[str, str]:
    """For a single stage, `stage.id.name=v` means the same as `name=v`."""
    prefix = f"{stage_id}."
    stripped: dict[str, str] = {}
    for key, value in params.items():
        name = key[len(prefix):] if key.startswith(prefix) else key
        if name in stripped:
            raise ParamValidationError(
                f"--param {name!r} is given twice (as {name!r} and as {prefix}{name!r}); give it once",
                param=name, value=value, rule="repeated",
            )
        stripped[name] = value
    return stripped
