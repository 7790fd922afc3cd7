"""Networks over token ids: ``model: {arch: text_bag}`` on text data.

Each takes the input shape ``(max_length,)`` and the number of classes like every architecture, and
``vocab_size`` from the tokenizer fitted on the training split (``data/tokenizer.py``), never from the
suite. Inputs are int64 N×max_length ids padded with ``PAD`` (0) at the end: a text's length is
``(ids != PAD).sum(1)``. Each network ends in a linear layer named ``head`` (the penultimate features
it takes are the bundle's ``embedding`` output).
"""

from __future__ import annotations

import torch
from torch import nn

from practica.data.tokenizer import PAD
from practica.errors import ModelError

Shape = tuple[int, ...]


def _check(arch: str, input_shape: Shape, vocab_size: int) -> None:
    if len(input_shape) != 1:
        raise ModelError(f"{arch} reads text (token ids); this data set's samples have shape {input_shape}: use an "
                         "image or table architecture, or a text data set (source: text)")
    if vocab_size < 2:
        raise ModelError(f"{arch} needs a vocabulary of at least 2 tokens; the tokenizer has {vocab_size}")


class MeanPool(nn.Module):
    """The mean of each text's token vectors, padding left out: (N, L, D), (N, L) mask → (N, D)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class TextBag(nn.Module):
    """Bag of embeddings (fastText-like; Joulin et al., 2017): token vectors averaged, a hidden layer, a head."""

    def __init__(self, vocab_size: int, num_classes: int, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.pool = MeanPool()
        self.hidden = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout)) if hidden else nn.Identity()
        self.head = nn.Linear(hidden or dim, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.pool(self.embed(ids), ids != PAD)))


def text_bag(input_shape: Shape, num_classes: int, *, vocab_size: int, dim: int = 64, hidden: int = 0,
             dropout: float = 0.0) -> nn.Module:
    """Token embeddings averaged over the text, an optional hidden layer, a linear head."""
    _check("text_bag", input_shape, vocab_size)
    if not 0 <= dropout < 1:
        raise ModelError(f"text_bag dropout must be in [0, 1); got {dropout}.")
    return TextBag(vocab_size, num_classes, dim, hidden, dropout)


TEXT_ARCHITECTURES = {"text_bag": text_bag}
