"""The trained network as one module: input normalisation + body, logits out.

Normalisation lives inside the module (as buffers) so that the exported model needs only
raw pixels scaled to [0, 1]: the statistics travel with the weights. A text network
(``TextClassifier``) has none: its inputs are token ids, which an embedding looks up.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from practica.config.schema import ModelSpec
from practica.errors import ModelError
from practica.models.preprocess import PREPROCESSING
from practica.models.registry import build_network, is_text_arch

STATS_CHUNK = 4096  # samples per chunk of input_stats (at most)
STATS_VALUES = 1 << 24  # input values per chunk of input_stats (at most)


class Classifier(nn.Module):
    """``preprocess`` (a CSV table's, fitted on the training split: ``models/preprocess.py``) replaces
    the mean/std normalisation when given: raw table rows in."""

    # buffers registered in __init__
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, body: nn.Module, mean: torch.Tensor, std: torch.Tensor, preprocess: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp_min(1e-6))
        self.preprocess = preprocess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) images in [0, 1], or (B, F) features; returns (B, classes) logits."""
        if self.preprocess is not None:
            return self.body(self.preprocess(x))
        return self.body((x - self.mean) / self.std)


class Regressor(Classifier):
    """A regression network: input normalisation + body (one output unit) + the target's scale.

    The body learns the target standardised by the training split's mean and std (``y_mean``,
    ``y_std``, buffers that travel with the weights), so the module's output is in the target's
    own units, as the exported model's is.
    """

    # buffers registered in __init__
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(self, body: nn.Module, mean: torch.Tensor, std: torch.Tensor, preprocess: nn.Module | None = None,
                 *, y_mean: float = 0.0, y_std: float = 1.0) -> None:
        super().__init__(body, mean, std, preprocess)
        self.register_buffer("y_mean", torch.tensor(float(y_mean)))
        self.register_buffer("y_std", torch.tensor(max(float(y_std), 1e-12)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x as ``Classifier`` takes it; returns (B, 1) predicted values in the target's units."""
        return super().forward(x) * self.y_std + self.y_mean


class TextClassifier(nn.Module):
    """A text network: int64 token ids (B, max_length), padded with 0 at the end, in; (B, classes) logits out.

    No normalisation and no buffers: the ids index the body's embedding as they are (a float cast or a
    mean/std would corrupt them). The tokenizer that makes the ids travels beside the weights, in the
    model's meta (``"tokenizer"``), not inside the module.
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.body(ids)


Network = Classifier | TextClassifier  # what training makes: Regressor is a Classifier


def text_classifier(body: nn.Module, task: str) -> TextClassifier:
    """``body`` as a text model; a text regression is refused (its target scale has no place to live yet)."""
    from practica.tasks import get_task

    if not get_task(task).has_classes:
        raise ModelError("text data supports classification only; a text regression is not available. Give the "
                         "texts class labels (dataset.task: classification)")
    return TextClassifier(body)


def build_classifier(
    model: ModelSpec, input_shape: tuple[int, ...], num_classes: int, preprocessing: dict | None = None,
    *, task: str = "classification", tokenizer: dict | None = None,
) -> Network:
    """The network wrapped with input normalisation (statistics filled in by training or loading), or
    with a table's fitted ``preprocessing`` (``PREPROCESSING.dump_python``) in front instead. ``tokenizer``
    (``TextTokenizer.to_dict()``, from the model's meta): a text network, its vocabulary the tokenizer's and
    ``input_shape`` ``(max_length,)``."""
    from practica.tasks import get_task

    if tokenizer is not None:
        from practica.data.tokenizer import TextTokenizer

        tok = TextTokenizer.from_dict(tokenizer)
        body = build_network(model, (tok.max_length,), get_task(task).output_width(num_classes),
                             vocab_size=tok.vocab_size)
        return text_classifier(body, task)
    if model.arch is not None and is_text_arch(model.arch):
        raise ModelError(f"arch '{model.arch}' reads text: rebuilding it needs the tokenizer its model meta keeps")

    # A regression's network has one output unit, wrapped with the target's scale (filled in by loading).
    wrapper = Classifier if get_task(task).has_classes else Regressor
    units = get_task(task).output_width(num_classes)
    shape = (1, -1, 1, 1) if len(input_shape) == 3 else (1, -1)
    zeros, ones = torch.zeros(input_shape[0]).reshape(shape), torch.ones(input_shape[0]).reshape(shape)
    if preprocessing is not None:
        pre = PREPROCESSING.validate_python(preprocessing).module()
        return wrapper(build_network(model, (pre.fitted.width,), units), zeros, ones, pre)
    return wrapper(build_network(model, input_shape, units), zeros, ones)


def as_input(batch: torch.Tensor) -> torch.Tensor:
    """uint8 pixels → float in [0, 1]; features pass through."""
    return batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch


def input_stats(x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (images) or per-feature mean and std of the model's inputs, broadcastable.

    uint8 images are measured as the model sees them: scaled to [0, 1]. ``x`` is a tensor as the
    model takes it (N×C×H×W or N×F), or an array as the data stage stores it (N×H×W×C or N×F, e.g.
    memory-mapped), read a chunk at a time and measured exactly as its tensor would be.
    """
    chunks: Iterable[torch.Tensor]
    if isinstance(x, np.ndarray):
        images = x.ndim == 4
        scale = 255.0 if x.dtype == np.uint8 else 1.0
        width = x.shape[3] if images else x.shape[1]
        from practica.data.storage.mapped import chunks as row_chunks

        # a chunk at a time: a memory-mapped x is read from its file, never whole
        chunks = (_as_tensor(part) for _, part in row_chunks(x, _stats_rows(x.shape[1:])))
    else:
        images = x.ndim == 4
        scale = 255.0 if x.dtype == torch.uint8 else 1.0
        width = x.shape[1]
        chunks = torch.split(x, _stats_rows(x.shape[1:]))  # chunked: a float copy of 60k images would be 0.7 GB
    dims: tuple[int, ...]
    shape: tuple[int, ...]
    if images:
        dims, shape = (0, 2, 3), (1, -1, 1, 1)
    else:
        dims, shape = (0,), (1, -1)
    mean = torch.zeros(width, dtype=torch.float64)
    sq = torch.zeros(width, dtype=torch.float64)
    n = 0
    for chunk in chunks:
        c = chunk.double() / scale
        # Sums come back to the CPU: the data may live on a GPU, the statistics are tiny.
        mean += c.sum(dim=dims).cpu()
        sq += (c * c).sum(dim=dims).cpu()
        n += c.numel() // width
    mean /= n
    std = (sq / n - mean * mean).clamp_min(0).sqrt()
    return mean.float().reshape(shape)[0:1], std.float().reshape(shape)[0:1]


def _stats_rows(sample_shape: tuple[int, ...]) -> int:
    """Samples per chunk of ``input_stats``: 4096, fewer for samples of over 4096 values (a chunk is
    converted to float64: at most ``STATS_VALUES`` values, 128 MB, whatever the image size)."""
    values = 1
    for d in sample_shape:
        values *= int(d)
    return max(1, min(STATS_CHUNK, STATS_VALUES // max(values, 1)))


def _as_tensor(rows: np.ndarray) -> torch.Tensor:
    """Rows as stored (N×H×W×C images, N×F features) as the model's tensor (N×C×H×W, float32 features), copied."""
    if rows.ndim == 4:
        return torch.from_numpy(np.array(rows.transpose(0, 3, 1, 2), order="C"))
    return torch.from_numpy(np.array(rows, dtype=np.float32))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def weight_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())
