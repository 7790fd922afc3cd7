"""Strict pydantic base and the shorthand-list parser shared by layers and augmentations."""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


class Strict(BaseModel):
    """Frozen, and unknown keys are an error that lists the accepted ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        return data


class Shorthand(Strict):
    """An entry of a shorthand list: ``name``, ``{name: main_value}`` or ``{name: {key: value}}``.

    Subclasses declare ``type: Literal["name"]`` (the name used in YAML) and set ``main``,
    the field that a bare value fills (``{conv: 32}`` means ``filters=32``).
    """

    main: ClassVar[str | None] = None


def shorthand_registry(*classes: type[Shorthand]) -> dict[str, type[Shorthand]]:
    return {cls.model_fields["type"].annotation.__args__[0]: cls for cls in classes}


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
