"""Early stopping on a monitored per-epoch metric, with its state for checkpoints."""

from __future__ import annotations

import math

from practica.training.history import EpochRecord


class EarlyStopping:
    def __init__(self, monitor: str, direction: str, patience: int | None, min_delta: float):
        self.monitor, self.direction, self.patience, self.min_delta = monitor, direction, patience, min_delta
        self.best = math.inf if direction == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0

    def update(self, record: EpochRecord) -> bool:
        """Returns True when this epoch is the new best."""
        value = getattr(record, self.monitor)
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

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]

