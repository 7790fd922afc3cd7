"""Typed specs of the declarative layer list (Keras-Sequential spirit) and of augmentations.

In YAML a layer is ``relu``, ``{conv: 32}`` (the main argument) or
``{conv: {filters: 32, kernel: 5}}``; the model builder infers every input shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field, PositiveInt, model_validator

from practica.config.base import Shorthand, expand_shorthand, shorthand_registry

MAX_WIDTH = 65_536  # units or filters of one layer: wider than any network this tool trains well
MAX_KERNEL = 64
MAX_PARAMS = 1_000_000_000  # 4 GB of fp32 weights (16 GB with Adam's state): past what one machine trains
Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]


class Dense(Shorthand):
    type: Literal["dense"] = "dense"
    units: Width
    bias: bool = True
    main = "units"


class Conv(Shorthand):
    type: Literal["conv"] = "conv"
    filters: Width
    kernel: int = Field(3, gt=0, le=MAX_KERNEL)
    stride: PositiveInt = 1
    padding: Literal["same", "valid"] = "same"
    bias: bool = True
    main = "filters"


class MaxPool(Shorthand):
    type: Literal["maxpool"] = "maxpool"
    size: PositiveInt = 2
    main = "size"


class AvgPool(Shorthand):
    type: Literal["avgpool"] = "avgpool"
    size: PositiveInt = 2
    main = "size"


class GlobalAvgPool(Shorthand):
    type: Literal["global_avgpool"] = "global_avgpool"


class Flatten(Shorthand):
    type: Literal["flatten"] = "flatten"


class BatchNorm(Shorthand):
    type: Literal["batchnorm"] = "batchnorm"


class Dropout(Shorthand):
    type: Literal["dropout"] = "dropout"
    rate: float = Field(0.5, ge=0.0, lt=1.0)
    main = "rate"


class Residual(Shorthand):
    """A basic residual block: conv-bn-relu-conv-bn plus a (projected) shortcut, then relu."""

    type: Literal["residual"] = "residual"
    filters: Width
    stride: PositiveInt = 1
    main = "filters"


def _activation(name: str) -> type[Shorthand]:
    return type(name.capitalize(), (Shorthand,), {"__annotations__": {"type": Literal[name]}, "type": name})


Relu, Gelu, Tanh, Sigmoid, Softmax = (_activation(n) for n in ("relu", "gelu", "tanh", "sigmoid", "softmax"))

LAYER_TYPES = (Dense, Conv, MaxPool, AvgPool, GlobalAvgPool, Flatten, BatchNorm, Dropout, Residual,
               Relu, Gelu, Tanh, Sigmoid, Softmax)
LAYERS = shorthand_registry(*LAYER_TYPES)

LayerSpec = Annotated[
    # Union over the tuple: one member per layer type (ruff's X | Y rewrite cannot spell a tuple's union)
    Annotated[Union[LAYER_TYPES], Field(discriminator="type")],  # type: ignore[valid-type]  # noqa: UP007
    BeforeValidator(lambda v: expand_shorthand(v, LAYERS, "layer")),
]


def check_layers_size(specs: Sequence[Shorthand]) -> None:
    """Refuse a layer list whose parameters, counted for the smallest input it could get (one feature or
    one channel) and one output, already pass ``MAX_PARAMS``; the error names the layer where they do."""
    total, width = 0, 1  # features of a vector, or channels of an image
    for i, spec in enumerate(specs):
        if isinstance(spec, Dense):
            total += width * spec.units + spec.units * spec.bias
            width = spec.units
        elif isinstance(spec, Conv):
            total += width * spec.filters * spec.kernel**2 + spec.filters * spec.bias
            width = spec.filters
        elif isinstance(spec, Residual):
            projection = width * spec.filters if width != spec.filters or spec.stride != 1 else 0
            total += 9 * spec.filters * (width + spec.filters) + projection
            width = spec.filters
        elif isinstance(spec, BatchNorm):
            total += 2 * width
        if total > MAX_PARAMS:
            raise ValueError(
                f"layers[{i}] ({spec.type}) brings the model to at least {total:,} parameters "
                f"({4 * total / 1e9:,.1f} GB of fp32 weights), over the limit of {MAX_PARAMS:,}; "
                "use fewer units or filters"
            )


class HFlip(Shorthand):
    """Mirror images left-right: each with probability ``p``, or, with ``alternate``, every image
    every other epoch (a seeded half in odd epochs, the other half in even ones: each image is seen
    both ways in any two epochs running; Jordan, "94% on CIFAR-10 in 3.29 seconds", 2024)."""

    type: Literal["hflip"] = "hflip"
    p: float = Field(0.5, ge=0.0, le=1.0)
    alternate: bool = False
    main = "p"

    @model_validator(mode="after")
    def _alternate_has_no_p(self) -> HFlip:
        if self.alternate and self.p != 0.5:
            raise ValueError(
                f"hflip with alternate: true flips every image every other epoch, so p ({self.p}) does not "
                "apply; remove p, or set alternate: false for random flips with probability p"
            )
        return self


class Crop(Shorthand):
    """Random crop back to the original size after padding by ``padding`` pixels: with zeros, or
    with the image's own edge mirrored (``reflect``, a shift that invents no black border)."""

    type: Literal["crop"] = "crop"
    padding: PositiveInt = 4
    fill: Literal["zeros", "reflect"] = "zeros"
    main = "padding"


class Cutout(Shorthand):
    """Zero a random ``size``×``size`` square of every image (DeVries & Taylor, 2017)."""

    type: Literal["cutout"] = "cutout"
    size: PositiveInt = 8
    main = "size"


AUGMENTS = shorthand_registry(HFlip, Crop, Cutout)

AugmentSpec = Annotated[
    Annotated[HFlip | Crop | Cutout, Field(discriminator="type")],
    BeforeValidator(lambda v: expand_shorthand(v, AUGMENTS, "augmentation")),
]
