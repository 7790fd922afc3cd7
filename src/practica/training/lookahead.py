"""Lookahead on a running average of the weights (``train.lookahead``), as in hlb-CIFAR10 and airbench.

Every ``every`` optimizer steps the weights are averaged into a running average and then set to it.
The average's weight on its past, ``decay ** every × progress³``, is near 0 early in training (the
weights move freely while the learning rate is high) and grows to ``decay ** every`` at the end;
the last step sets the weights to the average itself, so training ends on it (and the last epoch's
validation measures it). Batch-norm running statistics are averaged with the weights.
"""

from __future__ import annotations

import torch
from torch import nn

from practica.config.schema import LookaheadSpec


class Lookahead:
    def __init__(self, spec: LookaheadSpec, model: nn.Module, total_steps: int) -> None:
        self.every, self.decay, self.total = spec.every, spec.decay, max(1, total_steps)
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    def after_step(self, model: nn.Module, step: int) -> None:
        """``step``: optimizer steps taken so far, over the whole run (1 after the first)."""
        if step >= self.total:
            self._pull(model, 1.0)
        elif step % self.every == 0:
            self._pull(model, self.decay**self.every * (step / self.total) ** 3)

    @torch.no_grad()
    def _pull(self, model: nn.Module, past: float) -> None:
        state = model.state_dict()
        for name, average in self.average.items():
            average.lerp_(state[name], 1.0 - past)
            state[name].copy_(average)

    def state(self) -> dict[str, torch.Tensor]:
        return self.average

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, value in tensors.items():
            self.average[name].copy_(value)
