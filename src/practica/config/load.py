"""Read a suite file: YAML → defaults merged → validated ``Suite``, or one clear ``ConfigError``."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from practica.config.schema import SCHEMA_VERSION, Suite, TrainSpec
from practica.errors import ConfigError

# A suite file is a few KB nested a few levels; these bounds stop a malformed or hostile one (20,000
# nested brackets, a "billion laughs" of aliases) before it exhausts the stack or the memory.
MAX_SUITE_BYTES = 1_000_000
MAX_YAML_DEPTH = 50
MAX_YAML_NODES = 100_000  # values, with every alias counted as the whole value it stands for

# Sub-sections of `train` that are replaced, not merged, when an experiment names another kind:
# merging adam's defaults into an experiment's sgd would mix options that do not belong together.
_REPLACE_ON_NEW_NAME = ("optimizer", "schedule")


def load_suite(path: str | Path) -> Suite:
    """Load and validate a suite file; relative data paths are resolved against its folder."""
    path = Path(path)
    raw = read_yaml_file(path, kind="suite", max_bytes=MAX_SUITE_BYTES, typical="suites are a few KB",
                         example="examples/digits.yaml")
    return suite_from_dict(raw, base_dir=path.parent, origin=str(path))


def read_yaml_file(path: Path, *, kind: str, max_bytes: int, typical: str, example: str) -> Any:
    """The YAML in a ``kind`` file ("suite", "pipeline"), read safely: a file, at most ``max_bytes``, UTF-8,
    bounded in depth and in values once aliases are expanded; a ConfigError names the problem and the fix."""
    if not path.is_file():
        hint = " (it is a folder; give the .yaml file inside it)" if path.is_dir() else ""
        raise ConfigError(f"{kind} file {path} not found{hint}. "
                          f"Give the path to a {kind} .yaml, e.g. {example}.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ConfigError(
            f"{path} is {size:,} bytes; a {kind} file is at most {max_bytes:,} ({typical}). "
            f"Check that this is the {kind} .yaml, not a data file."
        )
    try:
        text = path.read_text(encoding="utf-8")
        _check_yaml_bounds(text, path, kind)
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}. Fix the syntax there.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file; a {kind} file is UTF-8 YAML.") from None


def _check_yaml_bounds(text: str, path: Path, kind: str) -> None:
    """Walk the YAML's parse events (no recursion, nothing built) and refuse nesting deeper than
    ``MAX_YAML_DEPTH`` or more than ``MAX_YAML_NODES`` values once aliases are expanded."""
    # Per open collection: [its anchor, its value count, its height]; per anchor: (count, height).
    stack: list[list] = [[None, 0, 0]]
    anchors: dict[str, tuple[int, int]] = {}

    def add(count: int, height: int, mark: yaml.Mark) -> None:
        top = stack[-1]
        top[1] += count
        top[2] = max(top[2], height)
        depth = len(stack) - 1 + height
        where = f" (line {mark.line + 1})"
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(
                f"{path} nests values {depth} levels deep{where}; a {kind} nests at most {MAX_YAML_DEPTH}. "
                "Check the brackets and indentation there."
            )
        if sum(frame[1] for frame in stack) > MAX_YAML_NODES:
            raise ConfigError(
                f"{path} holds over {MAX_YAML_NODES:,} values once its aliases (*name) are expanded{where}; a "
                f"{kind} holds a few hundred. Write the values out instead of repeating anchors (&name) inside "
                "each other."
            )

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([event.anchor, 1, 0])
            add(0, 0, event.start_mark)  # the depth check, for the collection just opened
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, count, height = stack.pop()
            if anchor is not None:
                anchors[anchor] = (count, height + 1)
            add(count, height + 1, event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
            add(1, 0, event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            if any(frame[0] == event.anchor for frame in stack):
                raise ConfigError(
                    f"{path}: the alias *{event.anchor} (line {event.start_mark.line + 1}) stands for a value that "
                    f"contains it (&{event.anchor}), which would repeat without end; write the value out instead."
                )
            if event.anchor in anchors:  # an undefined one is reported by the YAML reader
                add(*anchors[event.anchor], event.start_mark)


def suite_from_dict(raw: Any, *, base_dir: Path = Path("."), origin: str = "suite") -> Suite:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a suite file is a mapping with keys name, dataset, experiments...; "
                          f"got {type(raw).__name__}.")
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
    dataset = data.get("dataset")
    for spec in (dataset, (dataset or {}).get("test") if isinstance(dataset, dict) else None):
        for key in ("path", "labels"):  # every field naming a file
            if isinstance(spec, dict) and isinstance(spec.get(key), str):
                p = Path(spec[key]).expanduser()
                spec[key] = str(p if p.is_absolute() else (base_dir / p).resolve())
    for exp in data.get("experiments") or []:  # pretrained weights and features: a path, then '#EXPERIMENT'
        model = exp.get("model") if isinstance(exp, dict) else None
        for key in ("pretrained", "features"):
            spec = model.get(key) if isinstance(model, dict) else None
            if isinstance(spec, dict) and isinstance(spec.get("from"), str) and spec["from"]:
                where, hash_, name = spec["from"].partition("#")
                p = Path(where).expanduser()
                spec["from"] = str(p if p.is_absolute() else (base_dir / p).resolve()) + hash_ + name
    evaluation = data.get("evaluation")
    for spec in (evaluation.get("slices") or []) if isinstance(evaluation, dict) else []:
        if isinstance(spec, dict) and isinstance(spec.get("tags"), str):  # a tags file, like the data paths
            p = Path(spec["tags"]).expanduser()
            spec["tags"] = str(p if p.is_absolute() else (base_dir / p).resolve())


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
            # _where drops a key the data lacks (it takes it for a union's tag): name the missing key here
            if loc and isinstance(loc[-1], str):
                where = f"{_where(loc[:-1], data)}.{loc[-1]}".lstrip(".")
            msg = "this key is required"
        elif e["type"] == "finite_number":
            msg = f"expected a finite number, got {given!r}; NaN and infinity are not accepted, write a number"
        elif (e["type"] not in ("unknown_key", "unknown_name", "bad_entry", "no_argument", "value_error")
              and not isinstance(given, dict)):
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
                if (isinstance(node, dict) and isinstance(node.get("name"), str)
                        and parts and parts[-1] == "experiments"):
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


def only_experiments(suite: Suite, names: Sequence[str]) -> Suite:
    """``suite`` with only the experiments ``names``, in the suite's order (``practica run --experiments a,b``).

    The run directory keeps this smaller suite as the one it ran; a resume names the same experiments.

        >>> only_experiments(suite, ["mlp"]).experiments[0].name
        'mlp'
    """
    known = [exp.name for exp in suite.experiments]
    wanted = [name.strip() for name in names if name.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        what = f"no experiment named {', '.join(map(repr, unknown))}" if unknown else "no experiment named"
        raise ConfigError(f"suite '{suite.name}' has {what}; its experiments are: {', '.join(known)}. "
                          "Give some of those names, separated by commas.")
    return suite.model_copy(update={"experiments": [exp for exp in suite.experiments if exp.name in wanted]})
