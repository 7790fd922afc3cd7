"""A faster dropout for CPU training: the same layer, its mask cut from 64-bit random words.

PyTorch's CPU dropout draws one Bernoulli sample per element, one after another (``bernoulli_`` is a
serial loop, on any number of threads): on the reference Keras CIFAR CNN that was a sixth of a bf16
training step. ``BitDropout`` draws one 64-bit word per 8 elements (4 where the rate needs finer
steps than 1/256) and compares its bytes with a threshold: 3.2× faster forward and backward, the
step 1.11× faster.
It drops with the same rate, scales the kept values by 1/(1-p) as ``nn.Dropout`` does, uses the
same global generator (a checkpoint's saved state resumes it exactly), and is the identity in eval
mode; only the random stream differs.

``fit`` swaps a CPU run's ``nn.Dropout`` layers for it (``use_bit_dropout``); CUDA's dropout is a fused
kernel already.
"""

from __future__ import annotations

import torch
from torch import nn

from practica.training.precision import is_channels_last

__all__ = ["BitDropout", "use_bit_dropout"]


class BitDropout(nn.Dropout):
    """``nn.Dropout(p)`` with its mask cut from 64-bit random words: 8 bits an element when ``p`` is a
    multiple of 1/256 (0.25, 0.5, …: exact), else 16 (``p`` rounded to the nearest 1/65536).

    Example::

        layer = BitDropout(0.25)
        y = layer(torch.randn(128, 32, 15, 15))  # a quarter zeroed, the rest × 4/3
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 < p < 1.0:
            raise ValueError(f"BitDropout needs 0 < p < 1 (got {p}); use nn.Identity for 0 and zeros for 1")
        super().__init__(p)
        self.bits = 8 if float(p * 256).is_integer() else 16
        levels = 1 << self.bits
        self.drop_levels = min(max(round(p * levels), 1), levels - 1)  # a draw below this drops its element
        self.p = self.drop_levels / levels  # the rate as drawn
        self.scale = 1.0 / (1.0 - self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = self._keep(x)
        return x * keep.to(x.dtype).mul_(self.scale)

    def _keep(self, x: torch.Tensor) -> torch.Tensor:
        """A uint8 mask of ``x``'s shape (and, for a channels-last batch, layout): 1 where kept, else 0."""
        n = x.numel()
        per_word = 64 // self.bits
        words = torch.empty((n + per_word - 1) // per_word, dtype=torch.int64, device=x.device)
        words.random_(-(1 << 63), None)  # all 64 bits uniform
        # The comparison written into uint8, not bool, and converted from uint8: PyTorch's CPU kernels for a
        # bool result and from bool are scalar loops, these vectorised (a 128×32×15×15 mask, scaled, in 0.4 ms
        # instead of 1.1–1.4, one thread).
        keep = torch.empty(n, dtype=torch.uint8, device=x.device)
        if self.bits == 8:
            torch.ge(words.view(torch.uint8)[:n], self.drop_levels, out=keep)
        else:  # int16 is signed: its draws run from -32768
            torch.ge(words.view(torch.int16)[:n], self.drop_levels - 32768, out=keep)
        if is_channels_last(x):
            b, c, h, w = x.shape
            return keep.view(b, h, w, c).permute(0, 3, 1, 2)  # the same layout as x: no strided multiply
        return keep.view(x.shape)


def use_bit_dropout(model: nn.Module) -> int:
    """Replace every plain ``nn.Dropout`` in ``model`` (0 < p < 1; not its subclasses, whose behaviour may
    differ) by a ``BitDropout`` of the same rate, in place. Returns how many were replaced."""
    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Dropout and 0.0 < child.p < 1.0:
                replacement = BitDropout(child.p)
                replacement.train(child.training)
                setattr(module, name, replacement)
                swapped += 1
    return swapped
