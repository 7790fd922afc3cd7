"""Build a declarative layer list into a PyTorch module, inferring every input shape.

Shapes are tracked as (C, H, W) for images and (F,) for vectors; each layer checks that
it gets the kind of input it needs, so a mistake names the layer and the fix instead of
surfacing as a matmul error mid-training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from practica.config import layers as L
from practica.errors import ModelError

Shape = tuple[int, ...]


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn plus the shortcut (1×1 conv + bn when the shape changes), then relu."""

    def __init__(self, in_channels: int, filters: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, filters, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != filters:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, filters, 1, stride, bias=False), nn.BatchNorm2d(filters)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def _need_image(spec: L.Shorthand, index: int, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ModelError(
            f"layer {index} ({spec.type}) needs an image input (channels × height × width) but gets a "
            f"vector of {shape[0]} features; put image layers before 'flatten' or 'global_avgpool'."
        )
    return shape


def _build_one(spec: L.Shorthand, index: int, shape: Shape) -> tuple[nn.Module, Shape]:
    """One layer and its output shape."""
    if isinstance(spec, L.Dense):
        if len(shape) != 1:
            raise ModelError(
                f"layer {index} (dense) gets an image of shape {'×'.join(map(str, shape))}; "
                "add 'flatten' or 'global_avgpool' before it."
            )
        return nn.Linear(shape[0], spec.units, bias=spec.bias), (spec.units,)
    if isinstance(spec, L.Conv):
        c, h, w = _need_image(spec, index, shape)
        pad = spec.kernel // 2 if spec.padding == "same" else 0
        if spec.padding == "same" and spec.kernel % 2 == 0:
            raise ModelError(f"layer {index} (conv): padding 'same' needs an odd kernel; got kernel {spec.kernel}.")
        layer: nn.Module = nn.Conv2d(c, spec.filters, spec.kernel, spec.stride, pad, bias=spec.bias)
    elif isinstance(spec, (L.MaxPool, L.AvgPool)):
        _need_image(spec, index, shape)
        cls = nn.MaxPool2d if isinstance(spec, L.MaxPool) else nn.AvgPool2d
        layer = cls(spec.size)
    elif isinstance(spec, L.GlobalAvgPool):
        c, _, _ = _need_image(spec, index, shape)
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (c,)
    elif isinstance(spec, L.Flatten):
        if len(shape) == 1:
            return nn.Identity(), shape
        return nn.Flatten(), (math.prod(shape),)
    elif isinstance(spec, L.BatchNorm):
        layer = nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
        return layer, shape
    elif isinstance(spec, L.Dropout):
        return nn.Dropout(spec.rate), shape
    elif isinstance(spec, L.Residual):
        c, _, _ = _need_image(spec, index, shape)
        layer = ResidualBlock(c, spec.filters, spec.stride)
    else:
        act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softmax": None}[spec.type]
        if act is None:
            raise ModelError(
                f"layer {index} (softmax) is only allowed as the last layer: the loss works on logits "
                "and applies softmax itself."
            )
        return act(), shape
    # Spatial layers: infer the output shape by running an empty-batch probe.
    too_small = ModelError(
        f"layer {index} ({spec.type}) shrinks the image to nothing: its input is {'×'.join(map(str, shape))}; "
        "use fewer pooling or strided layers, or larger images."
    )
    try:
        with torch.no_grad():
            out = layer.eval()(torch.zeros(1, *shape))  # eval: batch norm accepts a batch of one
        layer.train()
    except RuntimeError:
        raise too_small from None
    if min(out.shape[2:]) < 1:
        raise too_small
    return layer, tuple(out.shape[1:])


def build_layers(specs: Sequence[L.Shorthand], input_shape: Shape, num_classes: int) -> nn.Sequential:
    """The layer list plus a classification head.

    If the list does not already end in ``dense`` with ``num_classes`` units, a head is appended
    (flattening first if needed). A trailing ``softmax`` is accepted as Keras users write it and
    dropped: the module returns logits, and predictions apply softmax.
    """
    specs = list(specs)
    if specs and isinstance(specs[-1], L.Softmax):
        specs = specs[:-1]
    modules: list[nn.Module] = []
    shape: Shape = tuple(input_shape)
    for i, spec in enumerate(specs):
        module, shape = _build_one(spec, i, shape)
        modules.append(module)
    ends_in_head = specs and isinstance(specs[-1], L.Dense) and specs[-1].units == num_classes
    if not ends_in_head:
        if len(shape) == 3:
            modules.append(nn.Flatten())
            shape = (shape[0] * shape[1] * shape[2],)
        modules.append(nn.Linear(shape[0], num_classes))
    return nn.Sequential(*modules)


def describe_layers(specs: Sequence[L.Shorthand]) -> str:
    """A short human form: ``conv32-relu-maxpool-flatten-dense128``."""
    parts = []
    for s in specs:
        main = getattr(s, s.main, None) if s.main else None
        parts.append(f"{s.type}{main if main is not None and not isinstance(s, (L.MaxPool, L.AvgPool)) else ''}")
    return "-".join(parts)
