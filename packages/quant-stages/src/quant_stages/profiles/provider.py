"""Loading and validating TOML profiles; the `quant.profiles` provider.

Search order for a name: a path (`*.toml` or containing '/'), then `$QUANT_HOME/profiles/<name>.toml`
(a user's file shadows a built-in of the same name), then the built-ins shipped in this package.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from quant_core.context import SleeveSpec
from quant_core.errors import DataValidationError, DatasetNotFoundError, close_matches
from quant_core.home import QuantHome
from quant_core.profiles import ResolvedProfile

from quant_stages.data.text import read_text_file
from quant_stages.profiles.schema import ProfileFile
from quant_stages.stages import STAGE_CLASSES

DATA_STAGES = ("discovery.universe", "selection.ingestion")
BUILTIN_PACKAGE = "quant_stages.profiles.builtin"


def _error(source: str, message: str, rule: str) -> DataValidationError:
    return DataValidationError(message, source=source, rule=rule)


def _key_path(*parts: str | int) -> str:
    """`stages.selection.policy.x`, `sleeves[0].name`: list positions in brackets, as written."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _validation_message(exc: ValidationError, prefix: str = "", *, path: str | None = None) -> tuple[str, str]:
    """Message and rule of the first error, at `path` or else at `prefix` + the error's location."""
    first = exc.errors()[0]
    path = path or _key_path(*([prefix] if prefix else []), *first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown key {path!r}", "unknown-key"
    return f"key {path!r}={first.get('input')!r}: {first['msg']}", first["type"]


def validate_stage_params(source: str, where: str, stages: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each table must name a known stage and hold only that stage's params, valid by its schema."""
    checked: dict[str, dict[str, Any]] = {}
    for stage_id, params in stages.items():
        stage_class = STAGE_CLASSES.get(stage_id)
        if stage_class is None:
            hint = close_matches(stage_id, STAGE_CLASSES)
            raise _error(
                source,
                f"unknown stage {stage_id!r} in {where}" + (f"; did you mean {hint[0]!r}?" if hint else ""),
                "unknown-stage",
            )
        try:
            stage_class.Params.model_validate(params)
        except ValidationError as exc:
            message, rule = _validation_message(exc, f"{where}.{stage_id}")
            raise _error(source, message, rule) from None
        checked[stage_id] = dict(params)
    return checked


#: stage parameter -> the key of the [data] table it comes from
DATA_KEYS = {"dataset": "dataset", "dataset_params": "params", "candidates_path": "candidates_path", "returns_path": "returns_path"}


def _validate_data_binding(source: str, stage_id: str, params: dict[str, Any]) -> None:
    """The [data] table as bound to a data stage: an error names the [data] key it came from
    (or the stage's own key); the stage's params check the dataset's params (`SourceParams`)."""
    try:
        STAGE_CLASSES[stage_id].Params.model_validate(params)
    except DatasetNotFoundError as exc:
        raise _error(source, f"key 'data.dataset': {exc}", "unknown-dataset") from None
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        if loc and loc[0] in DATA_KEYS:
            path = _key_path("data", DATA_KEYS[str(loc[0])], *loc[1:])
        else:
            path = _key_path("stages", stage_id, *loc)
        message, rule = _validation_message(exc, path=path)
        raise _error(source, message, rule) from None


def _absolute(path: str | None, base: Path) -> str | None:
    if path is None:
        return None
    candidate = Path(path).expanduser()
    return str(candidate if candidate.is_absolute() else (base / candidate).resolve())


def parse_profile(text: str, source: str, default_name: str, base_dir: Path) -> ResolvedProfile:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(source, f"not valid TOML: {exc}", "invalid-toml") from None
    try:
        parsed = ProfileFile.model_validate(raw)
    except ValidationError as exc:
        message, rule = _validation_message(exc)
        raise _error(source, message, rule) from None
    stage_params = validate_stage_params(source, "stages", parsed.stages)
    if parsed.data is not None:
        binding = {
            "dataset": parsed.data.dataset,
            "dataset_params": parsed.data.params,
            "candidates_path": _absolute(parsed.data.candidates_path, base_dir),
            "returns_path": _absolute(parsed.data.returns_path, base_dir),
        }
        binding = {k: v for k, v in binding.items() if v not in (None, {})}
        for stage_id in DATA_STAGES:
            stage_params[stage_id] = {**binding, **stage_params.get(stage_id, {})}
            _validate_data_binding(source, stage_id, stage_params[stage_id])
    kind = parsed.profile.kind
    if kind == "meta" and not parsed.sleeves:
        raise _error(source, "a meta profile must list at least one [[sleeves]] entry", "no-sleeves")
    if kind == "portfolio" and parsed.sleeves:
        raise _error(source, "only a meta profile ([profile] kind = \"meta\") may list sleeves", "sleeves-in-portfolio")
    sleeves = []
    names = set()
    for index, sleeve in enumerate(parsed.sleeves):
        if sleeve.name in names:
            raise _error(source, f"sleeves[{index}]: sleeve name {sleeve.name!r} is repeated", "duplicate-sleeve")
        if sleeve.min_weight > sleeve.max_weight:
            raise _error(source, f"sleeves[{index}] ({sleeve.name}): min_weight {sleeve.min_weight} > max_weight {sleeve.max_weight}", "bounds")
        names.add(sleeve.name)
        sleeves.append(SleeveSpec(
            name=sleeve.name, profile=sleeve.profile,
            stage_params=validate_stage_params(source, f"sleeves[{index}].stages", sleeve.stages),
            min_weight=sleeve.min_weight, max_weight=sleeve.max_weight,
        ))
    if sleeves:
        low, high = sum(s.min_weight for s in sleeves), sum(s.max_weight for s in sleeves)
        if low > 1 + 1e-12 or high < 1 - 1e-12:
            # caught here, before any sleeve runs, rather than at meta.optimize after all of them
            raise _error(
                source,
                f"sleeves: weights must sum to 1, but the min_weights sum to {low:g} and the "
                f"max_weights to {high:g}",
                "bounds",
            )
    return ResolvedProfile(
        name=parsed.profile.name or default_name, kind=kind, description=parsed.profile.description,
        source=source, stage_params=stage_params, sleeves=sleeves,
    )


def load_profile_file(path: str | Path) -> ResolvedProfile:
    file = Path(path)
    if not file.exists():
        raise _error(str(file), "profile file not found", "missing-file")
    text = read_text_file(file)
    return parse_profile(text, str(file), file.stem, file.parent.resolve())


def _builtin_names() -> list[str]:
    folder = resources.files(BUILTIN_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


class TomlProfiles:
    """The `quant.profiles` provider for TOML files."""

    def names(self, home: QuantHome) -> list[str]:
        user = sorted(p.stem for p in home.profiles_dir.glob("*.toml")) if home.profiles_dir.is_dir() else []
        return sorted({*_builtin_names(), *user})

    def resolve(self, name: str, home: QuantHome) -> ResolvedProfile | None:
        if name.endswith(".toml") or "/" in name:
            return load_profile_file(name)
        user_file = home.profiles_dir / f"{name}.toml"
        if user_file.is_file():
            return load_profile_file(user_file)
        builtin = resources.files(BUILTIN_PACKAGE) / f"{name}.toml"
        if builtin.is_file():
            return parse_profile(builtin.read_text(encoding="utf-8"), f"builtin profile {name}", name, Path.cwd())
        return None
