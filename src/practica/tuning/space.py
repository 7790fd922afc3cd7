"""A space's dimensions as Optuna suggestions, and the experiment as declared as a point of the space.

Choices that are not plain values (lists such as widths, mappings) are offered to Optuna by their JSON
text, which it can store, and turned back into values here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from practica.config.schema import ExperimentSpec, Suite
from practica.config.tune import Distribution, declared_value

if TYPE_CHECKING:
    import optuna

_PLAIN = (str, int, float, bool, type(None))


def suggest(trial: optuna.Trial, space: dict[str, Distribution], only: list[str] | None = None) -> dict[str, Any]:
    """One value per dimension (of those in ``only``), as the study's sampler proposes it (an enqueued trial's
    fixed values)."""
    values: dict[str, Any] = {}
    for path, dist in space.items():
        if only is not None and path not in only:
            continue
        if dist.float_range is not None:
            values[path] = trial.suggest_float(path, *dist.float_range, log=dist.log)
        elif dist.int_range is not None:
            values[path] = trial.suggest_int(path, *dist.int_range, log=dist.log)
        else:
            labels = [_label(c) for c in dist.choice or []]
            values[path] = _value(trial.suggest_categorical(path, labels))
    return values


def untuned_params(exp: ExperimentSpec, suite: Suite) -> tuple[dict[str, Any], list[str]]:
    """The experiment as declared, as Optuna params (trial 0 is enqueued with them), and a note for each
    path whose declared value lies outside its dimension: that dimension is left out of trial 0 (which still
    trains the declared value), since Optuna cannot record a choice it was not given."""
    assert exp.tune is not None
    params: dict[str, Any] = {}
    outside: list[str] = []
    for path, dist in exp.tune.space.items():
        given, value = declared_value(exp, list(suite.augment), path)
        if given and dist.contains(value):
            params[path] = _label(value) if dist.kind == "choice" else value
        else:
            shown = repr(value) if given else "unset"
            outside.append(f"{path} is {shown} as declared, outside its space")
    return params, outside


def _label(value: Any) -> Any:
    return value if isinstance(value, _PLAIN) else json.dumps(value, sort_keys=True)


def _value(label: Any) -> Any:
    if isinstance(label, str) and label[:1] in "[{":
        try:
            return json.loads(label)
        except json.JSONDecodeError:
            return label
    return label
