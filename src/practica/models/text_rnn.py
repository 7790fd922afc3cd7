"""``text_rnn``: an LSTM, GRU or plain RNN over token vectors; padding never read, never changes the result.

Two paths compute the same function (``tests/models/test_text_rnn.py`` proves it, outputs and gradients):

- **packed** (``pack_padded_sequence`` with each text's length): no step runs on padding and the
  backward direction starts at each text's real end. What cuDNN runs fastest on a GPU.
- **unpacked**, on the padded tensor: each layer and direction run on its own with the module's own
  weights; the forward direction read at position ``length - 1``, the backward direction run on each
  text reversed within its length (a gather) and reversed back. Steps past a text's end are computed
  and never read. ``torch.export`` cannot trace packed sequences (their batch sizes depend on the
  data), so export always takes this path; on CPU it is also the faster one for training, because
  a packed sequence runs step by step with a batch that shrinks, where the padded tensor runs whole
  (``bench/text_models.py``, batch 64, length 128, one thread: LSTM 0.9-1.4 s per step unpacked against
  2.1-4.1 s packed; GRU 0.8 s against 1.6 s).

``pack``: ``auto`` (packed on a GPU, unpacked on CPU), ``always`` or ``never``; exporting, scripting
and tracing always take the unpacked path. The features are the last layer's final states, forward
and backward concatenated: both paths give them directly, and each has read the whole text (a masked
mean would mostly average states that had read only part of it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from practica.config.base import did_you_mean
from practica.data.tokenizer import PAD
from practica.errors import ModelError
from practica.models.text_layers import Shape, check_dropout, check_sizes, check_text_input, lengths

PACKING = ("auto", "always", "never")
CELLS: dict[str, type[nn.LSTM] | type[nn.GRU] | type[nn.RNN]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _run_lstm(x: torch.Tensor, h0: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    # the op nn.LSTM calls: (input, (h0, c0), weights, has_biases, layers, dropout, train, bidirectional, batch_first)
    return torch.lstm(x, (h0, torch.zeros_like(h0)), weights, True, 1, 0.0, False, False, True)[0]


def _run_gru(x: torch.Tensor, h0: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    return torch.gru(x, h0, weights, True, 1, 0.0, False, False, True)[0]


def _run_rnn(x: torch.Tensor, h0: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    return torch.rnn_tanh(x, h0, weights, True, 1, 0.0, False, False, True)[0]


# One layer, one direction, on (N, L, D) → (N, L, H): what the export path runs.
_SINGLE: dict[str, Callable[[torch.Tensor, torch.Tensor, list[torch.Tensor]], torch.Tensor]] = {
    "lstm": _run_lstm, "gru": _run_gru, "rnn": _run_rnn}


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(N, L, D) values at (N, K) positions → (N, K, D)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class TextRNN(nn.Module):
    """Embedding, a recurrent stack (packed or not: the same function), the last layer's final states, a head."""

    def __init__(self, vocab_size: int, num_classes: int, *, cell: str, dim: int, hidden: int, layers: int,
                 bidirectional: bool, dropout: float, pack: str) -> None:
        super().__init__()
        self.cell = cell
        self.directions = 2 if bidirectional else 1
        self.pack = pack  # one of PACKING; a plain attribute, so a check or a measurement can change it
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.rnn = CELLS[cell](dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                               dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * self.directions, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = lengths(ids)
        x = self.embed(ids)
        exporting = (torch.compiler.is_exporting() or torch.jit.is_scripting() or torch.jit.is_tracing()
                     or torch.onnx.is_in_onnx_export())
        packed = not exporting and (self.pack == "always" or (self.pack == "auto" and x.is_cuda))
        features = self.packed_features(x, n) if packed else self.unpacked_features(x, n)
        return self.head(self.dropout(features))

    def packed_features(self, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """(N, L, D) token vectors, (N,) lengths → (N, directions·H) final states of the last layer."""
        packed = pack_padded_sequence(x, n.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # (layers·directions, N, H), in the batch's order
        return h[-self.directions:].transpose(0, 1).reshape(x.shape[0], -1)

    def unpacked_features(self, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """The same function as ``packed_features`` on the padded tensor, layer by layer, direction by direction."""
        steps = torch.arange(x.shape[1], device=x.device)
        inside = steps < n.unsqueeze(1)  # (N, L)
        reverse = torch.where(inside, n.unsqueeze(1) - 1 - steps, steps)  # its own inverse
        last = (n - 1).unsqueeze(1)  # (N, 1)
        run = _SINGLE[self.cell]
        h0 = x.new_zeros(1, x.shape[0], self.rnn.hidden_size)
        finals: list[torch.Tensor] = []
        for layer in range(self.rnn.num_layers):
            if layer:
                x = nn.functional.dropout(x, self.rnn.dropout, self.training)
            outputs, finals = [], []
            for direction in range(self.directions):
                suffix = f"l{layer}" + ("_reverse" if direction else "")
                weights = [getattr(self.rnn, f"{kind}_{suffix}") for kind in ("weight_ih", "weight_hh", "bias_ih",
                                                                              "bias_hh")]
                out = run(x if direction == 0 else _take(x, reverse), h0, weights)  # (N, L, H)
                finals.append(_take(out, last).squeeze(1))
                outputs.append(out if direction == 0 else _take(out, reverse))
            x = torch.cat(outputs, 2)
        return torch.cat(finals, 1)


def text_rnn(input_shape: Shape, num_classes: int, *, vocab_size: int, cell: str = "lstm", bidirectional: bool = True,
             layers: int = 1, hidden: int = 128, dim: int = 128, dropout: float = 0.2,
             pack: str = "auto") -> nn.Module:
    """A recurrent network over the text's tokens (``cell``: lstm, gru or rnn); its final states into a head.
    ``pack``: auto (packed sequences on a GPU, the unpacked path on CPU, where it is faster), always or never."""
    check_text_input("text_rnn", input_shape, vocab_size)
    if cell not in CELLS:
        raise ModelError(f"text_rnn cell must be one of {', '.join(CELLS)}; got '{cell}'."
                         + did_you_mean(cell, list(CELLS)))
    if pack not in PACKING:
        raise ModelError(f"text_rnn pack must be one of {', '.join(PACKING)}; got '{pack}'."
                         + did_you_mean(pack, list(PACKING)))
    check_dropout("text_rnn", dropout)
    check_sizes("text_rnn", layers=layers, hidden=hidden, dim=dim)
    return TextRNN(vocab_size, num_classes, cell=cell, dim=dim, hidden=hidden, layers=layers,
                   bidirectional=bidirectional, dropout=dropout, pack=pack)
