"""Parameters from text (URIs, the command line, profiles) coerced and validated by JSON Schema.

Coercion follows the schema's declared types: integer, number, boolean, enum, arrays from
comma-separated text, objects from JSON text. Validation uses jsonschema, so an agent that only
sees `quant stage schema` gets exactly the rules that are enforced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from quant_core.errors import ParamValidationError, close_matches

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError

_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s (`#/$defs/Name`), as pydantic emits them for enums and models."""
    seen = 0
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
        if seen > 32:
            raise ValueError(f"$ref cycle at {ref!r}")
    return schema


def _alternatives(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            out: list[dict[str, Any]] = []
            for option in schema[key]:
                out.extend(_alternatives(option, root))
            return out
    if isinstance(schema.get("type"), list):
        return [{**schema, "type": t} for t in schema["type"]]
    return [schema]


def _coerce_one(text: str, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "const" in schema:
        kind = kind or type(schema["const"]).__name__
    if kind is None and "enum" in schema:
        values = schema["enum"]
        kind = "string" if all(isinstance(v, str) for v in values) else None
    if kind == "null":
        if text.strip().lower() in {"", "null", "none"}:
            return None
        raise ValueError("not null")
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("not a boolean (use true/false)")
    if kind == "integer":
        value = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("not an integer")
            value = int(value)
        return value
    if kind == "number":
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("not a finite number (NaN and infinity are not JSON)")
        return value
    if kind == "array":
        stripped = text.strip()
        if stripped.startswith("["):
            return json.loads(stripped)
        items = schema.get("items", {})
        parts = [p.strip() for p in stripped.split(",")] if stripped else []
        return [coerce_value(part, items, root) for part in parts]
    if kind == "object":
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value
    if kind in (None, "string"):
        return text
    raise ValueError(f"cannot read a {kind} from text")


def coerce_value(text: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """Coerce one textual value to the schema's type; non-text values pass through unchanged."""
    if not isinstance(text, str):
        return text
    root = root if root is not None else schema
    errors = []
    outside_enum: list[Any] = []
    for option in _alternatives(schema, root):
        try:
            value = _coerce_one(text, option, root)
        except (ValueError, json.JSONDecodeError) as exc:
            errors.append(str(exc))
            continue
        # "null" for `Mode | None` is the null, not a string outside the enum: prefer an
        # alternative that admits the value.
        if "enum" in option and value not in option["enum"]:
            outside_enum.append(value)
            continue
        return value
    if outside_enum:
        return outside_enum[0]  # let validation report the enum rule
    raise ValueError("; ".join(errors) or "no type accepts it")


def coerce_params(
    schema: dict[str, Any], raw: Mapping[str, Any], *, owner: str = "stage"
) -> dict[str, Any]:
    """Coerce textual values of `raw` by `schema["properties"]`; unknown names are errors."""
    properties = schema.get("properties", {})
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in properties:
            raise unknown_param_error(name, properties, owner)
        try:
            out[name] = coerce_value(value, properties[name], schema)
        except ValueError as exc:
            expected = describe_type(properties[name], schema)
            raise ParamValidationError(
                f"{owner}: parameter {name!r}={value!r} is not a valid {expected} ({exc})",
                param=name,
                value=value,
                rule="type",
                stage_id=owner,
            ) from None
    return out


def unknown_param_error(name: str, properties: Mapping[str, Any], owner: str) -> ParamValidationError:
    hint = close_matches(name, properties)
    known = ", ".join(sorted(properties)) or "none"
    did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
    return ParamValidationError(
        f"{owner}: unknown parameter {name!r} (known: {known}){did_you_mean}",
        param=name,
        rule="unknown",
        stage_id=owner,
    )


def describe_type(schema: dict[str, Any], root: dict[str, Any]) -> str:
    options = _alternatives(schema, root)
    names = []
    for option in options:
        if "enum" in option:
            names.append("one of " + ", ".join(map(str, option["enum"])))
        else:
            names.append(str(option.get("type", "value")))
    return " or ".join(names)


class ParamsValidator:
    """A compiled JSON Schema validator for one stage's parameters."""

    def __init__(self, schema: dict[str, Any], owner: str) -> None:
        self.schema = schema
        self.owner = owner
        # Imported here: listing stages or printing help never validates, and jsonschema (with
        # referencing and attrs) is a fifth of a `quant stage list`'s start-up.
        from jsonschema import Draft202012Validator

        self._validator = Draft202012Validator(schema)

    def validate(self, params: Mapping[str, Any]) -> None:
        properties = self.schema.get("properties", {})
        for name in params:
            if name not in properties:
                raise unknown_param_error(name, properties, self.owner)
        # JSON Schema's "number" admits NaN and infinity, but they are not JSON: they could be
        # neither hashed into a cache key nor written to the run record.
        for path, value in _non_finite_floats(params):
            raise ParamValidationError(
                f"{self.owner}: parameter {path!r}={value!r} breaks the rule finite (NaN and "
                f"infinity are not JSON numbers)",
                param=path, value=value, rule="finite", stage_id=self.owner,
            )
        error = next(iter(sorted(self._validator.iter_errors(dict(params)), key=_error_order)), None)
        if error is not None:
            raise schema_error_to_param_error(error, self.owner, self.schema)


def _non_finite_floats(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite_floats(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _non_finite_floats(item, f"{path}.{index}")


def _error_order(error: SchemaError) -> tuple:
    return (list(error.absolute_path), error.validator)


def schema_error_to_param_error(
    error: SchemaError, owner: str, root: dict[str, Any] | None = None
) -> ParamValidationError:
    """`root` is the whole schema: a property's subschema may `$ref` into the root's `$defs`."""
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        missing = next((n for n in error.validator_value if n not in instance), None)
        param = ".".join(p for p in (path, missing) if p) or None
        return ParamValidationError(
            f"{owner}: parameter {param!r} is required ({error.message})",
            param=param, rule="required", stage_id=owner,
        )
    rule = f"{error.validator}={json.dumps(error.validator_value, default=str)}"
    if error.validator in ("anyOf", "oneOf", "enum"):
        rule = f"{error.validator}: {describe_type(error.schema, root if root is not None else error.schema)}"
    elif error.validator == "type":
        rule = f"type={error.validator_value}"
    return ParamValidationError(
        f"{owner}: parameter {path!r}={error.instance!r} breaks the rule {rule} ({error.message})",
        param=path or None,
        value=error.instance,
        rule=str(error.validator),
        stage_id=owner,
    )
