"""Read a suite file: YAML → defaults merged → validated ``Suite``, or one clear ``ConfigError``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from practica.config.schema import SCHEMA_VERSION, Suite, TrainSpec
from practica.errors import ConfigError

# Sub-sections of `train` that are replaced, not merged, when an experiment names another kind:
# merging adam's defaults into an experiment's sgd would mix options that do not belong together.
_REPLACE_ON_NEW_NAME = ("optimizer", "schedule")


def load_suite(path: str | Path) -> Suite:
    """Load and validate a suite file; relative data paths are resolved against its folder."""
    path = Path(path)
    if not path.is_file():
        hint = " (it is a folder; give the .yaml file inside it)" if path.is_dir() else ""
        raise ConfigError(f"suite file {path} not found{hint}. Give the path to a suite .yaml, e.g. examples/digits.yaml.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}. Fix the syntax there.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file; a suite file is UTF-8 YAML.") from None
    return suite_from_dict(raw, base_dir=path.parent, origin=str(path))


def suite_from_dict(raw: Any, *, base_dir: Path = Path("."), origin: str = "suite") -> Suite:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a suite file is a mapping with keys name, dataset, experiments...; got {type(raw).__name__}.")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"{origin}: schema_version {version!r} is not supported; this practica reads version {SCHEMA_VERSION}."
        )
    data = copy.deepcopy(raw)
    _check_defaults(data, origin)
    _merge_defaults(data)
    _resolve_paths(data, base_dir)
    try:
        return Suite.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, data, origin)) from None


def _check_defaults(data: dict[str, Any], origin: str) -> None:
    defaults = data.get("defaults") or {}
    if isinstance(defaults, dict) and isinstance(defaults.get("train"), dict):
        try:
            TrainSpec.model_validate(defaults["train"])
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, data, origin, prefix=("defaults", "train"))) from None


def _merge_defaults(data: dict[str, Any]) -> None:
    defaults = (data.get("defaults") or {}).get("train") if isinstance(data.get("defaults"), dict) else None
    if not isinstance(defaults, dict) or not isinstance(data.get("experiments"), list):
        return
    for exp in data["experiments"]:
        if isinstance(exp, dict):
            own = exp.get("train") or {}
            if isinstance(own, dict):
                exp["train"] = _deep_merge(defaults, own)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        old = out.get(key)
        if key in _REPLACE_ON_NEW_NAME and _names_differ(old, value):
            out[key] = copy.deepcopy(value)
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = _deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _names_differ(old: Any, new: Any) -> bool:
    def name(v: Any) -> Any:
        return v.get("name") if isinstance(v, dict) else v

    return old is not None and name(new) is not None and name(old) != name(new)


def _resolve_paths(data: dict[str, Any], base_dir: Path) -> None:
    for spec in (data.get("dataset"), (data.get("dataset") or {}).get("test") if isinstance(data.get("dataset"), dict) else None):
        for key in ("path", "labels"):  # every field naming a file
            if isinstance(spec, dict) and isinstance(spec.get(key), str):
                p = Path(spec[key]).expanduser()
                spec[key] = str(p if p.is_absolute() else (base_dir / p).resolve())


def format_validation_error(
    err: ValidationError, data: Any, origin: str, prefix: tuple[Any, ...] = ()
) -> str:
    """One line per problem: where (with experiment names), what was given, what is accepted."""
    lines = []
    for e in err.errors():
        loc = prefix + tuple(e["loc"])
        where = _where(loc, data)
        msg = e["msg"].removeprefix("Value error, ")
        given = e.get("input")
        if e["type"] in ("missing",):
            msg = "this key is required"
        elif e["type"] not in ("unknown_key", "unknown_name", "bad_entry", "no_argument", "value_error") and not isinstance(given, dict):
            msg = f"{msg} (got {given!r})"
        lines.append(f"  {where}: {msg}" if where else f"  {msg}")
    head = f"{origin} is not a valid suite ({len(lines)} problem{'s' if len(lines) > 1 else ''}):"
    return "\n".join([head, *lines])


def _where(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("name"), str) and parts and parts[-1] == "experiments":
                    label += f" ({node['name']})"
            else:
                node = None
            parts.append(label)
            continue
        # Tagged unions add the tag ('conv') to the location; the user never wrote it.
        if isinstance(node, dict) and item not in node and isinstance(item, str):
            continue
        node = node.get(item) if isinstance(node, dict) else None
        parts.append(f".{item}" if parts else str(item))
    return "".join(parts)
