"""What every network over token ids shares: the input check, the option checks, lengths, pooling.

Inputs are int64 N×L ids padded with ``PAD`` (0) at the end, so a text's length is
``(ids != PAD).sum(1)`` and every text has at least one token (the tokenizer guarantees it).
"""

from __future__ import annotations

import torch
from torch import nn

from practica.data.tokenizer import PAD
from practica.errors import ModelError

Shape = tuple[int, ...]


def check_text_input(arch: str, input_shape: Shape, vocab_size: int) -> None:
    """A text network needs token ids, one row of ``max_length`` per text, and a real vocabulary."""
    if len(input_shape) != 1:
        raise ModelError(f"{arch} reads text (token ids); this data set's samples have shape {input_shape}: use an "
                         "image or table architecture, or a text data set (source: text)")
    if vocab_size < 2:
        raise ModelError(f"{arch} needs a vocabulary of at least 2 tokens; the tokenizer has {vocab_size}")


def check_dropout(arch: str, dropout: float) -> None:
    if not 0 <= dropout < 1:
        raise ModelError(f"{arch} dropout must be in [0, 1) (the fraction of units dropped); got {dropout}.")


def check_sizes(arch: str, **sizes: int) -> None:
    """Each width, depth or count is at least 1: ``check_sizes("text_rnn", hidden=0)`` names ``hidden``."""
    for name, value in sizes.items():
        if value < 1:
            raise ModelError(f"{arch} {name} must be at least 1; got {value}.")


def token_mask(ids: torch.Tensor) -> torch.Tensor:
    """(N, L) ids → (N, L) bool, True on a text's tokens. The first position always counts: a row of padding
    alone (never made by the tokenizer, possible from a client feeding the ONNX graph directly) reads as one
    PAD token instead of giving NaN (an empty max, a softmax over no keys, a length of 0)."""
    return (ids != PAD) | (torch.arange(ids.shape[1], device=ids.device) == 0)


def lengths(ids: torch.Tensor) -> torch.Tensor:
    """(N, L) ids → (N,) int64 number of tokens per text (at least 1, see ``token_mask``)."""
    return token_mask(ids).sum(1)


class MeanPool(nn.Module):
    """The mean of each text's token vectors, padding left out: (N, L, D), (N, L) mask → (N, D)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class MaxPool(nn.Module):
    """The largest value of each channel over a text's real positions: (N, C, L), (N, L) mask → (N, C)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(~mask.unsqueeze(1), float("-inf")).amax(2)
