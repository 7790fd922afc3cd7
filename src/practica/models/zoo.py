"""Named architectures: ``model: {arch: resnet20}`` or ``{arch: mlp, params: {hidden: [512, 256]}}``.

Each builder takes the input shape (C, H, W) or (F,), the number of classes, and keyword-only
options; the registry checks a suite's ``params`` against those options before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from practica.errors import ModelError
from practica.models.fastnet import fastnet
from practica.models.layers import ResidualBlock
from practica.models.text_nets import TEXT_ARCHITECTURES

Shape = tuple[int, ...]


def resnet(input_shape: Shape, num_classes: int, *, depth: int = 20, width: int = 16) -> nn.Module:
    """CIFAR-style ResNet (He et al., 2016, section 4.2): depth = 6n + 2.

    A 3×3 stem, three stages of n basic blocks with width, 2×width and 4×width filters (the
    second and third halve the resolution), global average pooling and a linear head. Shortcuts
    that change shape use a 1×1 projection (the paper's option B). ResNet-20 has about 0.27 M
    parameters.
    """
    if (depth - 2) % 6 or depth < 8:
        raise ModelError(f"resnet depth must be 6n + 2 (8, 14, 20, 32, 44, 56, 110); got {depth}.")
    if len(input_shape) != 3:
        raise ModelError(f"resnet needs image input; this data set has {input_shape[0]} features per sample.")
    n = (depth - 2) // 6
    layers: list[nn.Module] = [
        nn.Conv2d(input_shape[0], width, 3, 1, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
    ]
    channels = width
    for stage, filters in enumerate((width, 2 * width, 4 * width)):
        for block in range(n):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(ResidualBlock(channels, filters, stride))
            channels = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


def resnet20(input_shape: Shape, num_classes: int, *, width: int = 16) -> nn.Module:
    """ResNet-20 for 32×32 images (0.27 M parameters at width 16)."""
    return resnet(input_shape, num_classes, depth=20, width=width)


def mlp(
    input_shape: Shape,
    num_classes: int,
    *,
    hidden: tuple[int, ...] | list[int] = (512, 256),
    dropout: float = 0.0,
    activation: str = "relu",
    batchnorm: bool = False,
) -> nn.Module:
    """A plain multi-layer perceptron on the flattened input."""
    acts = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
    if activation not in acts:
        raise ModelError(f"mlp activation must be one of {', '.join(acts)}; got '{activation}'.")
    if not 0 <= dropout < 1:
        raise ModelError(f"mlp dropout must be in [0, 1); got {dropout}.")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for units in hidden:
        layers.append(nn.Linear(width, int(units)))
        if batchnorm:
            layers.append(nn.BatchNorm1d(int(units)))
        layers.append(acts[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(units)
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def keras_cnn(input_shape: Shape, num_classes: int, *, dropout: bool = True) -> nn.Module:
    """The classic Keras CIFAR-10 example: conv32-conv32-pool, conv64-conv64-pool, dense512 (1.25 M params)."""
    if len(input_shape) != 3:
        raise ModelError("keras_cnn needs image input.")
    c, h, w = input_shape
    drop = (lambda p: nn.Dropout(p)) if dropout else (lambda p: nn.Identity())
    # As in the Keras example, the second conv of each block is unpadded ('valid').
    side_h, side_w = ((h - 2) // 2 - 2) // 2, ((w - 2) // 2 - 2) // 2
    if min(side_h, side_w) < 1:
        raise ModelError(f"keras_cnn needs images of at least 10×10; got {h}×{w}.")
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2), drop(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), drop(0.25),
        nn.Flatten(), nn.Linear(64 * side_h * side_w, 512), nn.ReLU(), drop(0.5),
        nn.Linear(512, num_classes),
    )


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet": resnet,
    "resnet20": resnet20,
    "mlp": mlp,
    "keras_cnn": keras_cnn,
    "fastnet": fastnet,
    **TEXT_ARCHITECTURES,  # over token ids: built with the tokenizer's vocab_size
}
