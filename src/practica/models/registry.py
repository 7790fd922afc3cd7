"""Turn a validated ``ModelSpec`` into a model; check its ``params`` when the suite is loaded."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from practica.config.base import did_you_mean
from practica.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

    from practica.config.schema import ModelSpec


def _arch_options(name: str) -> list[str]:
    from practica.models.zoo import ARCHITECTURES

    sig = inspect.signature(ARCHITECTURES[name])
    return [p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def check_model_params(spec: ModelSpec) -> None:
    """Raise ``ValueError`` (reported by the config loader with its location) for bad names or params."""
    if spec.arch is not None:
        from practica.models.zoo import ARCHITECTURES

        names = sorted(ARCHITECTURES)
        if spec.arch not in ARCHITECTURES:
            raise ValueError(f"unknown arch '{spec.arch}'.{did_you_mean(spec.arch, names)} Accepted: {', '.join(names)}")
        accepted = _arch_options(spec.arch)
        _check_keys(spec.params, accepted, f"arch '{spec.arch}'")
    elif spec.sklearn is not None:
        from practica.models.baselines import estimator_classes

        # The task is not known here: params must suit the classifier or the regressor the name stands for.
        classes = estimator_classes(spec.sklearn)
        accepted = sorted({k for cls in classes for k in cls().get_params()})
        _check_keys(spec.params, accepted, f"sklearn '{spec.sklearn}'")
        problems = []
        for cls in classes:
            try:
                cls(**spec.params)._validate_params()  # scikit-learn's own check, with its own clear message
                break
            except (ValueError, TypeError) as err:
                problems.append(str(err))
        else:
            raise ValueError(f"params of sklearn '{spec.sklearn}': {problems[0]}")


def _check_keys(params: dict, accepted: list[str], what: str) -> None:
    for key in params:
        if key not in accepted:
            raise ValueError(
                f"params.{key} is not an option of {what}.{did_you_mean(key, accepted)} "
                f"Accepted: {', '.join(accepted) or 'none'}"
            )


def build_network(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The network body (logits out) for a layer list or a named architecture."""
    if spec.layers is not None:
        from practica.models.layers import build_layers

        return build_layers(spec.layers, input_shape, num_classes)
    if spec.arch is not None:
        from practica.models.zoo import ARCHITECTURES

        try:
            return ARCHITECTURES[spec.arch](input_shape, num_classes, **spec.params)
        except TypeError as err:  # a value of the wrong type reached the builder
            raise ModelError(f"arch '{spec.arch}' could not be built from params {spec.params}: {err}") from None
    raise ModelError(f"{spec.kind} models are not networks")


def describe(spec: ModelSpec) -> str:
    if spec.layers is not None:
        from practica.models.layers import describe_layers

        return describe_layers(spec.layers)
    name = spec.arch or spec.sklearn or ""
    opts = ", ".join(f"{k}={v}" for k, v in spec.params.items())
    return f"{name}({opts})" if opts else name
