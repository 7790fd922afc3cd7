"""A pretrained network's weights put into a newly built one: the backbone, the head, frozen layers.

The network's *layers* are its body's direct children, in order (``0``, ``1``, … for a layer list or a
``resnet``); its *head* is the last of them with weights (the final linear layer), whose input is the
network's penultimate features. Everything here works on the body (``Classifier.body``) and plain
state dicts, so it serves every source of weights alike (``pipeline/backbone.py`` reads them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

from practica.errors import ModelError

FREEZE_NONE, FREEZE_ALL = "none", "all"


def layer_names(body: nn.Module) -> list[str]:
    """The body's layers, in order: the names ``freeze`` takes."""
    return [name for name, _ in body.named_children()]


def head_name(body: nn.Module) -> str:
    """The last layer with weights: the one replaced for new classes."""
    with_weights = [name for name, child in body.named_children() if any(True for _ in child.parameters())]
    if not with_weights:
        raise ModelError("this network has no layer with weights to serve as its head; it cannot be fine-tuned")
    return with_weights[-1]


def describe_layers(body: nn.Module) -> str:
    """``0 (Conv2d), 1 (BatchNorm2d), …, 14 (Linear, the head)``: what a freeze error lists."""
    head = head_name(body)
    return ", ".join(f"{name} ({type(child).__name__}{', the head' if name == head else ''})"
                     for name, child in body.named_children())


def frozen_layers(body: nn.Module, freeze: str) -> list[str]:
    """The layers ``freeze`` names: none, all but the head, or the named layer and every layer before it."""
    names = layer_names(body)
    head = head_name(body)
    if freeze == FREEZE_NONE:
        return []
    if freeze == FREEZE_ALL:
        return [n for n in names[: names.index(head)]]
    if freeze not in names:
        raise ModelError(f"pretrained.freeze '{freeze}' is not a layer of this network; give all, none, or one of "
                         f"its layers: {describe_layers(body)}")
    if names.index(freeze) >= names.index(head):
        raise ModelError(f"pretrained.freeze '{freeze}' would freeze the head ({head}), which must learn the new "
                         f"classes; name an earlier layer, or all (every layer before the head)")
    return names[: names.index(freeze) + 1]


def body_state(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict as the body's: a whole practica network's (``body.…`` beside ``mean``/``std``) loses its
    ``body.`` prefix; a body's own passes unchanged."""
    if any(k.startswith("body.") for k in tensors):
        return {k[len("body."):]: v for k, v in tensors.items() if k.startswith("body.")}
    return dict(tensors)


def load_backbone(body: nn.Module, tensors: Mapping[str, torch.Tensor], *, head: str, origin: str) -> list[str]:
    """Copy ``tensors`` (a body's state dict) into ``body``, every tensor checked by name and shape; with
    ``head="new"`` the head's tensors are skipped and the head keeps its fresh initialisation. Returns the
    names copied. Raises ``ModelError`` naming the first tensor that is missing, extra or of another shape."""
    own = body.state_dict()
    prefix = head_name(body) + "."
    skip = (lambda k: k.startswith(prefix)) if head == "new" else (lambda k: False)
    wanted = [k for k in own if not skip(k)]
    given = {k: v for k, v in tensors.items() if not skip(k)}
    missing = [k for k in wanted if k not in given]
    if missing:
        raise ModelError(f"the backbone {origin} has no tensor '{missing[0]}' ({len(missing)} missing of "
                         f"{len(wanted)}): it is not this architecture; use the arch and params it was trained with")
    extra = [k for k in given if k not in own]
    if extra:
        raise ModelError(f"the backbone {origin} has a tensor '{extra[0]}' this network lacks ({len(extra)} extra): "
                         "it is not this architecture; use the arch and params it was trained with")
    for key in wanted:
        if tuple(given[key].shape) != tuple(own[key].shape):
            hint = _head_hint(key, prefix) or _input_hint(key, own[key], given[key]) or (
                "use the arch and params the backbone was trained with")
            raise ModelError(f"the backbone {origin} does not fit: tensor '{key}' is {_shape(given[key])} there and "
                             f"{_shape(own[key])} in this network; {hint}")
    with torch.no_grad():
        for key in wanted:
            own[key].copy_(given[key])
    return wanted


def _head_hint(key: str, prefix: str) -> str:
    if key.startswith(prefix):
        return "the head's shape follows the classes: use head: new for a data set with other classes"
    return ""


def _input_hint(key: str, own: torch.Tensor, given: torch.Tensor) -> str:
    # The first convolution's input channels are the image's: (out, in, kh, kw) differing in `in` only.
    if own.ndim == 4 and own.shape[0] == given.shape[0] and own.shape[1] != given.shape[1]:
        return (f"the backbone takes {given.shape[1]}-channel images and the data has {own.shape[1]}; convert the "
                f"data with dataset.channels: {given.shape[1]} (and the same in dataset.test)")
    return ""


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) or "a scalar"


def check_input_shape(data_shape: tuple[int, ...], backbone_shape: tuple[int, ...], origin: str) -> None:
    """The data's images (C, H, W) against those the backbone learned on: the same channels and size, or an
    error that says which of ``dataset.channels`` and ``dataset.image_size`` adapts them."""
    if tuple(data_shape) == tuple(backbone_shape):
        return
    if len(data_shape) != 3:
        raise ModelError(f"the backbone {origin} takes images of {_chw(backbone_shape)}; this data set has "
                         f"{data_shape[0]} features per sample, not images")
    fixes = []
    if data_shape[0] != backbone_shape[0]:
        how = "grey repeated in each channel" if backbone_shape[0] == 3 else "colour to grey"
        fixes.append(f"dataset.channels: {backbone_shape[0]} ({how})")
    if tuple(data_shape[1:]) != tuple(backbone_shape[1:]):
        fixes.append(f"dataset.image_size: [{backbone_shape[1]}, {backbone_shape[2]}] (resized)")
    raise ModelError(f"the backbone {origin} learned on images of {_chw(backbone_shape)}, and this data's are "
                     f"{_chw(data_shape)}; adapt the data with {' and '.join(fixes)}, in dataset and dataset.test")


def _chw(shape: tuple[int, ...]) -> str:
    if len(shape) != 3:
        return f"{shape[0]} features"
    return f"{shape[1]}×{shape[2]} with {shape[0]} channel{'s' if shape[0] != 1 else ''}"


class Frozen:
    """Layers of a body kept as they are: their weights get no gradient, and ``hold`` (called each time the
    trainer puts the network in training mode) keeps them in evaluation mode, so batch norms keep their
    running statistics and dropout stays off. ``release`` lets them learn again."""

    def __init__(self, body: nn.Module, names: list[str]) -> None:
        self.body = body
        self.names = list(names)
        # Parameters some network fixes for good (fastnet's whitening, its batch norms' scales) stay fixed.
        self.params = [p for n in self.names for p in body.get_submodule(n).parameters() if p.requires_grad]
        for p in self.params:
            p.requires_grad_(False)
        self.active = bool(self.names)

    def hold(self) -> None:
        if self.active:
            for name in self.names:
                self.body.get_submodule(name).eval()

    def release(self) -> None:
        for p in self.params:
            p.requires_grad_(True)
        self.active = False


@contextmanager
def penultimate(body: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within it, each forward pass appends the head's input (the penultimate features, flattened) to the
    list it gives."""
    captured: list[torch.Tensor] = []
    handle = body.get_submodule(head_name(body)).register_forward_hook(
        lambda _module, inputs, _output: captured.append(inputs[0].detach().flatten(1)))
    try:
        yield captured
    finally:
        handle.remove()
