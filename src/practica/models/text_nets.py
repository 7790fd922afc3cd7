"""Networks over token ids: ``model: {arch: text_bag | text_cnn | text_rnn | text_transformer}`` on text data.

Each takes the input shape ``(max_length,)`` and the number of classes like every architecture, and
``vocab_size`` from the tokenizer fitted on the training split (``data/tokenizer.py``), never from the
suite. Inputs are int64 N×max_length ids padded with ``PAD`` (0) at the end: a text's length is
``(ids != PAD).sum(1)``, and no network's output depends on how much padding follows it. Each network
ends in a linear layer named ``head``, registered last (the penultimate features it takes are the
bundle's ``embedding`` output; ``transfer.head_name`` finds it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from practica.data.tokenizer import PAD
from practica.errors import ModelError
from practica.models.text_layers import (
    MaxPool,
    MeanPool,
    Shape,
    check_dropout,
    check_sizes,
    check_text_input,
    token_mask,
)
from practica.models.text_rnn import text_rnn
from practica.models.text_transformer import text_transformer


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
    check_text_input("text_bag", input_shape, vocab_size)
    check_dropout("text_bag", dropout)
    check_sizes("text_bag", dim=dim)
    if hidden < 0:
        raise ModelError(f"text_bag hidden must be 0 (no hidden layer) or a width of at least 1; got {hidden}.")
    return TextBag(vocab_size, num_classes, dim, hidden, dropout)


class TextCNN(nn.Module):
    """1D convolutions of several widths over token vectors, max-pooled over time (Kim, 2014).

    Each width ``k`` pads ``(k-1)//2`` zeros before and ``k//2`` after, so output position ``i`` is the
    window around token ``i`` and a text shorter than the widest window still has one; positions past
    the text are masked before the max. Padding tokens' vectors are zeroed, so a window reaching past
    the text sees zeros however long the padding is.
    """

    def __init__(self, vocab_size: int, num_classes: int, dim: int, widths: tuple[int, ...], filters: int,
                 dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.convs = nn.ModuleList(nn.Conv1d(dim, filters, k) for k in widths)
        self.pads = [((k - 1) // 2, k // 2) for k in widths]
        self.pool = MaxPool()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(filters * len(widths), num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = token_mask(ids)  # (N, L)
        x = (self.embed(ids) * mask.unsqueeze(-1).to(self.embed.weight.dtype)).transpose(1, 2)  # (N, D, L)
        features = torch.cat([self.pool(torch.relu(conv(nn.functional.pad(x, pad))), mask)
                              for conv, pad in zip(self.convs, self.pads, strict=True)], 1)  # (N, filters·widths)
        return self.head(self.dropout(features))


def text_cnn(input_shape: Shape, num_classes: int, *, vocab_size: int, dim: int = 128,
             widths: tuple[int, ...] | list[int] = (3, 4, 5), filters: int = 100, dropout: float = 0.5) -> nn.Module:
    """Kim's CNN for sentence classification: ``filters`` maps per window width, max-pooled, dropout, a head."""
    check_text_input("text_cnn", input_shape, vocab_size)
    check_dropout("text_cnn", dropout)
    check_sizes("text_cnn", dim=dim, filters=filters)
    if not widths or any(k < 1 for k in widths):
        raise ModelError(f"text_cnn widths must be a list of window widths of at least 1 token, such as [3, 4, 5]; "
                         f"got {list(widths)}.")
    return TextCNN(vocab_size, num_classes, dim, tuple(int(k) for k in widths), filters, dropout)


TEXT_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "text_bag": text_bag,
    "text_cnn": text_cnn,
    "text_rnn": text_rnn,  # in text_rnn.py
    "text_transformer": text_transformer,  # in text_transformer.py
}
