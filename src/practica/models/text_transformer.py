"""``text_transformer``: a small pre-norm transformer encoder over the tokens, mean-pooled.

Token and learned position embeddings (up to the tokenizer's ``max_length``), ``layers`` pre-norm
encoder layers (Xiong et al., 2020: trains without warm-up at these sizes) with a key padding mask,
a final layer norm, then the mean of the real tokens' vectors. Mean pooling rather than a CLS token:
on small data sets every token's vector gets a gradient from the loss, and the input keeps the
tokenizer's length (a CLS token would take one of its positions or change the input shape).

PyTorch's inference fast path (nested tensors, fused kernels) is only taken by post-norm layers, so
eager evaluation runs the same operations as training and as the exported graph.
"""

from __future__ import annotations

import torch
from torch import nn

from practica.data.tokenizer import PAD
from practica.errors import ModelError
from practica.models.text_layers import MeanPool, Shape, check_dropout, check_sizes, check_text_input, token_mask


class TextTransformer(nn.Module):
    """Embeddings + positions, a pre-norm encoder with padding masked, a layer norm, masked mean, a head."""

    def __init__(self, vocab_size: int, num_classes: int, *, max_length: int, dim: int, heads: int, layers: int,
                 ff: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.position = nn.Embedding(max_length, dim)
        for table in (self.embed, self.position):  # small, as in GPT-2: the residual stream starts near zero
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()
        self.dropout_in = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.pool = MeanPool()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = token_mask(ids)  # (N, L)
        x = self.embed(ids) + self.position.weight[: ids.shape[1]]  # (N, L, D)
        x = self.encoder(self.dropout_in(x), src_key_padding_mask=~mask)
        return self.head(self.dropout(self.pool(x, mask)))


def text_transformer(input_shape: Shape, num_classes: int, *, vocab_size: int, dim: int = 128, heads: int = 4,
                     layers: int = 2, ff: int = 256, dropout: float = 0.1) -> nn.Module:
    """A small transformer encoder (pre-norm, learned positions), mean-pooled over the real tokens, a head."""
    check_text_input("text_transformer", input_shape, vocab_size)
    check_dropout("text_transformer", dropout)
    check_sizes("text_transformer", dim=dim, heads=heads, layers=layers, ff=ff)
    if dim % heads:
        raise ModelError(f"text_transformer heads must divide dim (each head takes dim / heads values); got dim {dim} "
                         f"and heads {heads}: use a dim that is a multiple of {heads}, or heads among "
                         f"{', '.join(str(h) for h in range(1, min(dim, 16) + 1) if dim % h == 0)}.")
    return TextTransformer(vocab_size, num_classes, max_length=input_shape[0], dim=dim, heads=heads, layers=layers,
                           ff=ff, dropout=dropout)
