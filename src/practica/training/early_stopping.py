"""Early stopping on a monitored per-epoch metric, keeping the best epoch's weights, with its state for checkpoints."""

from __future__ import annotations

import math
from typing import Any

import torch

from practica.config.schema import EarlyStoppingSpec
from practica.training.callbacks import Callback, Loop, Stop
from practica.training.checkpoint import prefixed, unprefixed
from practica.training.history import EpochRecord


class EarlyStopping(Callback):
    """Watches ``monitor`` after every epoch and keeps the weights of its best epoch so far. Stops the run
    after ``patience`` epochs without an improvement of more than ``min_delta`` (None: never). When training
    ends, the model gets the best epoch's weights back if ``restore_best``, or if the run diverged; the epoch
    whose weights it keeps is ``kept_epoch``.

    Example::

        stopping = EarlyStopping(monitor="val_accuracy", direction="max", patience=3, restore_best=True)
    """

    name = "early_stopping"

    def __init__(self, *, monitor: str = "val_loss", direction: str = "min", patience: int | None = None,
                 min_delta: float = 0.0, restore_best: bool = False) -> None:
        self.monitor, self.direction, self.patience, self.min_delta = monitor, direction, patience, min_delta
        self.restore_best = restore_best
        self._reset()

    @classmethod
    def from_spec(cls, spec: EarlyStoppingSpec | None) -> EarlyStopping:
        """``train.early_stopping``; None: no stopping, but the best epoch (by ``val_loss``) is still kept
        for a run that diverges."""
        if spec is None:
            return cls()
        return cls(monitor=spec.monitor, direction=spec.direction, patience=spec.patience, min_delta=spec.min_delta,
                   restore_best=spec.restore_best)

    def on_train_begin(self, loop: Loop) -> None:
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.direction == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_weights: dict[str, torch.Tensor] = {}
        self.wait = 0
        self.kept_epoch: int | None = None

    def on_epoch_end(self, loop: Loop, record: EpochRecord) -> None:
        if self.update(record):
            self.best_weights = {k: v.detach().clone() for k, v in loop.model.state_dict().items()}
        if self.should_stop and loop.stop is None:
            loop.stop = Stop("early_stopping", self.describe())

    def on_train_end(self, loop: Loop) -> None:
        diverged = loop.stop is not None and loop.stop.reason == "diverged"
        if (self.restore_best or diverged) and self.best_weights:
            loop.model.load_state_dict(self.best_weights)
            self.kept_epoch = self.best_epoch
        else:
            self.kept_epoch = loop.records[-1].epoch if loop.records else None

    def update(self, record: EpochRecord) -> bool:
        """Returns True when this epoch is the new best."""
        value = record.value(self.monitor)
        if not math.isfinite(value):
            self.wait += 1
            return False
        better = value < self.best - self.min_delta if self.direction == "min" else value > self.best + self.min_delta
        if better or self.best_epoch is None:
            self.best, self.best_epoch, self.wait = value, record.epoch, 0
            return True
        self.wait += 1
        return False

    def describe(self) -> str:
        return f"{self.monitor} did not improve for {self.patience} epochs after epoch {self.best_epoch}"

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.wait >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                **prefixed("weights", self.best_weights)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = unprefixed("weights", state)
