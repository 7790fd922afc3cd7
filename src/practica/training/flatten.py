"""Flatten whose gradient comes back in its input's layout: no element-wise backward over mixed layouts.

A channels-last batch (what a CPU run trains on) reaches ``nn.Flatten`` after the last convolution block; the
flattened rows are in the NCHW order the dense layer was built for, so the forward copies, and the backward
hands the gradient back as a plain NCHW view. Every element-wise backward below it (dropout's, ReLU's, the
pooling's) then reads an NCHW gradient against its channels-last saved tensor: PyTorch's kernels do not
vectorise that, and on the reference Keras CIFAR CNN (bf16) ReLU's backward there took 18× as long, dropout's
5×, the max-pool's 3× (about 1.5 ms a step, 3% of it). Laying the gradient out as the input was, once, costs a
copy of the same size as the forward's.

``fit`` applies ``keep_flatten_layout`` on a CPU. The values and gradients are the same, only their layout in
memory differs; ``Flatten`` has no parameters, and in eval mode or without autograd it is ``nn.Flatten``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from practica.training.precision import is_channels_last

__all__ = ["LayoutFlatten", "keep_flatten_layout"]


class _Flatten(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, start_dim: int, end_dim: int) -> torch.Tensor:
        ctx.shape = x.shape
        return x.flatten(start_dim, end_dim)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last), None, None


class LayoutFlatten(nn.Flatten):
    """``nn.Flatten`` whose gradient, for a channels-last input in training, is channels-last too."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled() and x.requires_grad and is_channels_last(x):
            out: torch.Tensor = _Flatten.apply(x, self.start_dim, self.end_dim)
            return out
        return super().forward(x)


def keep_flatten_layout(model: nn.Module) -> int:
    """Make every plain ``nn.Flatten`` in ``model`` a ``LayoutFlatten``, in place. Returns how many."""
    changed = 0
    for module in model.modules():
        if type(module) is nn.Flatten:
            module.__class__ = LayoutFlatten
            changed += 1
    return changed
