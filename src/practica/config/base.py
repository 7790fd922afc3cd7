"""Strict pydantic base and the shorthand-list parser shared by layers and augmentations."""

from __future__ import annotations

import difflib
import math
import types
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _kinds(annotation: Any) -> set[type]:
    """The scalar types (bool, int, float) a field's annotation accepts at its top level."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return set().union(*(_kinds(a) for a in get_args(annotation)))
    if origin is Literal:
        return {type(a) for a in get_args(annotation)}
    return {annotation} if annotation in (bool, int, float) else set()


def _element_types(annotation: Any, length: int) -> list[Any]:
    """Per-element annotations of the list or tuple types in ``annotation`` (for ``length`` elements)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _element_types(get_args(annotation)[0], length)
    if origin in (Union, types.UnionType):
        return [t for a in get_args(annotation) for t in _element_types(a, length)]
    args = get_args(annotation)
    if origin is list and args:
        return [args[0]]
    if origin is tuple and args:
        return [args[0]] if args[-1] is Ellipsis else list(args)
    return []


def bool_as_number(annotation: Any, value: Any) -> bool:
    """Whether ``value`` holds a boolean where ``annotation`` wants a number (YAML's ``true`` is not 1)."""
    if isinstance(value, bool):
        kinds = _kinds(annotation)
        return bool(kinds & {int, float}) and bool not in kinds
    if isinstance(value, (list, tuple)):
        return any(bool_as_number(t, v) for t in _element_types(annotation, len(value)) for v in value)
    return False


def first_non_finite(value: Any, where: str) -> str | None:
    """Where in ``value`` (a nested mapping/list from YAML) a NaN or infinite number sits, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        items = ((f"{where}.{k}", v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((w for w in (first_non_finite(v, k) for k, v in items) if w), None)


class Strict(BaseModel):
    """Frozen; unknown keys are an error that lists the accepted ones; numbers are finite, and a
    boolean is never taken for a number (pydantic alone reads ``epochs: true`` as 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            unknown = [k for k in data if k not in known]
            if unknown:
                accepted = sorted(f for f in cls.model_fields if f != "type")
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key '{key}'.{hint} Accepted keys here: {accepted}.",
                    {
                        "key": unknown[0],
                        "hint": did_you_mean(unknown[0], accepted),
                        "accepted": ", ".join(accepted),
                    },
                )
            wrong = next((k for k, v in data.items() if k in cls.model_fields
                          and bool_as_number(cls.model_fields[k].annotation, v)), None)
            if wrong is not None:
                raise PydanticCustomError(
                    "bool_not_number",
                    "'{key}' takes a number, not a boolean (got {got}); write a number (YAML reads true, false, "
                    "yes, no, on and off as booleans).",
                    {"key": wrong, "got": repr(data[wrong])},
                )
        return data


class Shorthand(Strict):
    """An entry of a shorthand list: ``name``, ``{name: main_value}`` or ``{name: {key: value}}``.

    Subclasses declare ``type: Literal["name"]`` (the name used in YAML) and set ``main``,
    the field that a bare value fills (``{conv: 32}`` means ``filters=32``).
    """

    main: ClassVar[str | None] = None
    if TYPE_CHECKING:
        # For the type checker only: every subclass declares its own ``type`` field (a Literal name);
        # pydantic never sees this one, so the base class gains no field.
        type: str


def shorthand_registry(*classes: type[Shorthand]) -> dict[str, type[Shorthand]]:
    return {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in classes}


def expand_shorthand(entry: Any, registry: dict[str, type[Shorthand]], what: str) -> Any:
    """Turn one YAML entry into a tagged mapping that pydantic validates as its typed spec."""
    if isinstance(entry, Shorthand):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"] in registry:
        return entry  # the canonical form, as a resolved suite is written back
    names = sorted(registry)
    if isinstance(entry, str):
        name, value = entry, None
    elif isinstance(entry, dict) and len(entry) == 1:
        name, value = next(iter(entry.items()))
    else:
        raise PydanticCustomError(
            "bad_entry",
            "each {what} must be a name such as '{example}' or a one-key mapping such as "
            "'{example}: ...'; got {got}.",
            {"what": what, "example": names[0], "got": repr(entry)},
        )
    if name not in registry:
        raise PydanticCustomError(
            "unknown_name",
            "unknown {what} '{name}'.{hint} Accepted: {accepted}.",
            {"what": what, "name": str(name), "hint": did_you_mean(name, names), "accepted": ", ".join(names)},
        )
    cls = registry[name]
    if value is None:
        return {"type": name}
    if isinstance(value, dict):
        return {"type": name, **value}
    if cls.main is None:
        raise PydanticCustomError(
            "no_argument",
            "{what} '{name}' takes no value; write it as just '{name}' (got {got}).",
            {"what": what, "name": name, "got": repr(value)},
        )
    return {"type": name, cls.main: value}
