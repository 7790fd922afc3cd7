"""The tasks' losses (torch modules): imported by a task when it builds one, never at config time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from practica.config.schema import TrainSpec
    from practica.data.records import Dataset


class StandardisedMSE(nn.Module):
    """Mean squared error on the target standardised by the training split's std: 1.0 is the loss of
    predicting the training mean, whatever the target's units. Takes (B, 1) values and (B,) targets."""

    scale: torch.Tensor  # a buffer: 1 / std², registered in __init__

    def __init__(self, y_std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", 1.0 / y_std.detach().float() ** 2)

    def forward(self, values: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(values.float().reshape(-1), y) * self.scale


def class_weights(train: Dataset, spec: TrainSpec, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Per-class loss weights for ``class_weight: balanced``: n / (classes × count), as scikit-learn's
    'balanced' (a class absent from training gets 1; it never appears as a target). None: unweighted."""
    if spec.class_weight is None:
        return None
    counts = np.bincount(train.y, minlength=len(train.classes)).astype(np.float64)
    present = max(int((counts > 0).sum()), 1)
    weights = np.where(counts > 0, len(train.y) / (present * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32, device=device)
