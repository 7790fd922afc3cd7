"""Turn a validated ``ModelSpec`` into a model; check its ``params`` when the suite is loaded."""

from __future__ import annotations

import inspect
import typing
from typing import TYPE_CHECKING, Any

from practica.config.base import did_you_mean
from practica.config.layers import MAX_PARAMS, MAX_WIDTH
from practica.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

    from practica.config.schema import ModelSpec


# Set by the data, not the suite: a text network's vocabulary is its fitted tokenizer's.
_FROM_DATA = ("vocab_size",)
# What a text network's params are checked with (a vocabulary and a length as small as any text gives).
_PROBE_VOCAB, _PROBE_LENGTH = 100, 16


def is_text_arch(name: str | None) -> bool:
    from practica.models.text_nets import TEXT_ARCHITECTURES

    return name in TEXT_ARCHITECTURES


def _arch_options(name: str) -> list[str]:
    from practica.models.zoo import ARCHITECTURES

    sig = inspect.signature(ARCHITECTURES[name])
    return [p.name for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _FROM_DATA]


def check_model_params(spec: ModelSpec) -> None:
    """Raise ``ValueError`` (reported by the config loader with its location) for bad names or params."""
    _check_params(spec)
    if spec.pretrained is not None and spec.pretrained.freeze not in ("none", "all"):
        _check_freeze_layer(spec, spec.pretrained.freeze)


def _check_freeze_layer(spec: ModelSpec, layer: str) -> None:
    """``pretrained.freeze`` names a layer of the network (built on the meta device for a probe input)."""
    import torch

    from practica.models.transfer import frozen_layers

    try:
        with torch.device("meta"):
            body = build_network(spec.standalone(), _PROBE_SHAPE, 2)
    except ModelError:
        return  # a network that needs the data's real shape: checked when the run builds it
    try:
        frozen_layers(body, layer)
    except ModelError as err:
        raise ValueError(str(err)) from None


def _check_params(spec: ModelSpec) -> None:
    if spec.arch is not None:
        from practica.models.zoo import ARCHITECTURES

        names = sorted(ARCHITECTURES)
        if spec.arch not in ARCHITECTURES:
            raise ValueError(
                f"unknown arch '{spec.arch}'.{did_you_mean(spec.arch, names)} Accepted: {', '.join(names)}"
            )
        accepted = _arch_options(spec.arch)
        if "vocab_size" in spec.params and is_text_arch(spec.arch):
            raise ValueError(f"params.vocab_size of arch '{spec.arch}' comes from the tokenizer fitted on the "
                             "training split; set model.tokenizer.vocab_size instead")
        _check_keys(spec.params, accepted, f"arch '{spec.arch}'")
        _check_arch_values(spec.arch, spec.params)
    elif spec.sklearn is not None:
        from practica.models.baselines import estimator_classes

        # The task is not known here: params must suit the classifier or the regressor the name stands for.
        classes = estimator_classes(spec.sklearn)
        accepted = sorted({k for cls in classes for k in cls().get_params()})
        _check_keys(spec.params, accepted, f"sklearn '{spec.sklearn}'")
        for key, value in spec.params.items():
            if isinstance(value, bool) and not any(_takes_bool(cls, key) for cls in classes):
                raise ValueError(
                    f"params.{key} of sklearn '{spec.sklearn}' takes a number or a name, not a boolean (got "
                    f"{value}); write a number (YAML reads true, false, yes, no, on and off as booleans)"
                )
            limit = _SKLEARN_LIMITS.get(key)
            if limit is not None and isinstance(value, int) and value > limit:
                raise ValueError(f"params.{key} of sklearn '{spec.sklearn}' is {value:,}; it goes up to {limit:,}")
        problems = []
        for cls in classes:
            try:
                cls(**spec.params)._validate_params()  # scikit-learn's own check, with its own clear message
                break
            except (ValueError, TypeError) as err:
                problems.append(str(err))
        else:
            raise ValueError(f"params of sklearn '{spec.sklearn}': {problems[0]}")


# Bounds past MAX_WIDTH: a network this deep takes minutes just to build (ResNet-1202 is He et al.'s
# deepest), and a forest this large does not fit in memory.
_ARCH_LIMITS = {"depth": 2_000}
_SKLEARN_LIMITS = {"n_estimators": 10_000}
# An image input as small as any architecture takes: (channels, height, width).
_PROBE_SHAPE = (1, 16, 16)


def _check_arch_values(arch: str, params: dict[str, Any]) -> None:
    """Each value's type against the builder's signature (no bool for an int), each whole number within
    ``MAX_WIDTH``, then the parameter count of the network built on the meta device (no memory) for a
    small probe input."""
    import torch
    from pydantic import ConfigDict, TypeAdapter, ValidationError

    from practica.models.zoo import ARCHITECTURES

    builder = ARCHITECTURES[arch]
    hints = typing.get_type_hints(builder)
    for key, value in params.items():
        try:
            TypeAdapter(hints.get(key, Any), config=ConfigDict(strict=True)).validate_python(value)
        except ValidationError:
            expected = str(hints[key]).replace("typing.", "")
            raise ValueError(
                f"params.{key} of arch '{arch}' must be of type {expected}; got {value!r}"
            ) from None
        numbers = value if isinstance(value, (list, tuple)) else [value]
        limit = _ARCH_LIMITS.get(key, MAX_WIDTH)
        if len(numbers) > 1000 or any(isinstance(n, int) and n > limit for n in numbers):
            raise ValueError(
                f"params.{key} of arch '{arch}' is too large (got {_short(value)}); it goes up to {limit:,}"
                + (", in a list of up to 1,000 entries" if isinstance(value, (list, tuple)) else "")
            )
    probe: dict[str, Any] = {"vocab_size": _PROBE_VOCAB} if is_text_arch(arch) else {}
    try:
        with torch.device("meta"):
            model = builder((_PROBE_LENGTH,) if probe else _PROBE_SHAPE, 2, **probe, **params)
    except ModelError as err:
        if probe:  # a text network's probe has a real input shape: what its builder refuses is a bad option
            raise ValueError(str(err)) from None
        return  # a value the builder refuses: it says so with the data's real input shape, when the run builds it
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMS:
        raise ValueError(
            f"arch '{arch}' with params {_short(params)} has at least {count:,} parameters ({4 * count / 1e9:,.1f} "
            f"GB of fp32 weights), over the limit of {MAX_PARAMS:,}; use smaller widths or depth"
        )


def _takes_bool(cls: type, key: str) -> bool:
    """Whether scikit-learn's declared constraints for ``cls``'s parameter ``key`` admit a boolean."""
    constraints = getattr(cls, "_parameter_constraints", {}).get(key)
    if constraints is None or "no_validation" in constraints:
        return True
    return any(c in ("boolean", "verbose") or c is bool for c in constraints if isinstance(c, (str, type)))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_keys(params: dict, accepted: list[str], what: str) -> None:
    for key in params:
        if key not in accepted:
            raise ValueError(
                f"params.{key} is not an option of {what}.{did_you_mean(key, accepted)} "
                f"Accepted: {', '.join(accepted) or 'none'}"
            )


def build_network(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int, *,
                  vocab_size: int | None = None) -> nn.Module:
    """The network body (logits out) for a layer list or a named architecture. ``vocab_size``: the fitted
    tokenizer's, for a text network (``input_shape`` is then ``(max_length,)``)."""
    if spec.layers is not None:
        from practica.models.layers import build_layers

        return build_layers(spec.layers, input_shape, num_classes)
    if spec.arch is not None:
        from practica.models.zoo import ARCHITECTURES

        if is_text_arch(spec.arch):
            if vocab_size is None:
                raise ModelError(f"arch '{spec.arch}' reads text: it needs a text data set (source: text), whose "
                                 "tokenizer gives its vocabulary")
            extra: dict[str, Any] = {"vocab_size": vocab_size}
        else:
            extra = {}
        try:
            return ARCHITECTURES[spec.arch](input_shape, num_classes, **extra, **spec.params)
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
