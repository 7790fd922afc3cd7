"""The trained network as one module: input normalisation + body, logits out.

Normalisation lives inside the module (as buffers) so that the exported model needs only
raw pixels scaled to [0, 1]: the statistics travel with the weights.
"""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self, body: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.body = body
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) images in [0, 1], or (B, F) features; returns (B, classes) logits."""
        return self.body((x - self.mean) / self.std)


def input_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (images) or per-feature mean and std of the model's inputs, broadcastable.

    uint8 images are measured as the model sees them: scaled to [0, 1].
    """
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    if x.ndim == 4:
        dims, shape = (0, 2, 3), (1, -1, 1, 1)
    else:
        dims, shape = (0,), (1, -1)
    mean = torch.zeros(x.shape[1], dtype=torch.float64)
    sq = torch.zeros(x.shape[1], dtype=torch.float64)
    n = 0
    for chunk in torch.split(x, 4096):  # chunked: a float copy of 60k images would be 0.7 GB
        c = chunk.double() / scale
        mean += c.sum(dim=dims)
        sq += (c * c).sum(dim=dims)
        n += c.numel() // x.shape[1]
    mean /= n
    std = (sq / n - mean * mean).clamp_min(0).sqrt()
    return mean.float().reshape(shape)[0:1], std.float().reshape(shape)[0:1]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def weight_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())
