"""Smoothed reads of a run's per-epoch curves, skipping NaN, each labelled with its epochs.

Epochs are numbered 1..n in the order recorded; a ``Window`` is the span a number is read from,
so every piece of evidence can say "over epochs 18–20".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from practica.diagnosis.thresholds import ANNEALED_LR_SHARE, SMOOTH_EPOCHS
from practica.training.history import History


def finite_mean(values: Sequence[float]) -> float:
    """Mean of the finite values; NaN when there are none."""
    good = [v for v in values if math.isfinite(v)]
    return sum(good) / len(good) if good else math.nan


def centred(values: Sequence[float], half: int = SMOOTH_EPOCHS // 2) -> list[float]:
    """Centred moving average (window shrinks at the ends), skipping NaN."""
    return [finite_mean(values[max(0, i - half) : i + half + 1]) for i in range(len(values))]


def argbest(values: Sequence[float], *, lower: bool) -> int | None:
    """Index of the lowest (``lower``) or highest finite value, first on ties; None if none is finite."""
    best: int | None = None
    for i, v in enumerate(values):
        if math.isfinite(v) and (best is None or (v < values[best] if lower else v > values[best])):
            best = i
    return best


@dataclass(frozen=True)
class Window:
    """Epochs ``first``..``last``, 1-based and inclusive."""

    first: int
    last: int

    @classmethod
    def tail(cls, n: int, width: int = SMOOTH_EPOCHS) -> Window:
        """The last ``width`` epochs of an ``n``-epoch run (all of them if fewer)."""
        return cls(max(1, n - width + 1), n)

    @classmethod
    def around(cls, epoch: int, n: int, half: int = SMOOTH_EPOCHS // 2) -> Window:
        """The span ``centred`` averaged for ``epoch``."""
        return cls(max(1, epoch - half), min(n, epoch + half))

    @property
    def width(self) -> int:
        return self.last - self.first + 1

    def mean(self, values: Sequence[float]) -> float:
        return finite_mean(values[self.first - 1 : self.last])

    def __str__(self) -> str:
        return f"epoch {self.first}" if self.first == self.last else f"epochs {self.first}–{self.last}"


@dataclass(frozen=True)
class Curves:
    """A History's columns as tuples, with the gap and the schedule's shape precomputed."""

    train_loss: tuple[float, ...]
    train_acc: tuple[float, ...]
    val_loss: tuple[float, ...]
    val_acc: tuple[float, ...]
    lr: tuple[float, ...]
    seconds: tuple[float, ...]

    @classmethod
    def of(cls, history: History) -> Curves:
        names = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
        return cls(*(tuple(float(v) for v in history.column(name)) for name in names))

    @property
    def n(self) -> int:
        return len(self.train_loss)

    @property
    def gap(self) -> tuple[float, ...]:
        """Train minus val accuracy, epoch by epoch (NaN where either is)."""
        return tuple(t - v for t, v in zip(self.train_acc, self.val_acc, strict=True))

    def tail(self, width: int = SMOOTH_EPOCHS) -> Window:
        return Window.tail(self.n, width)

    @property
    def annealed(self) -> bool:
        """The learning rate ended at ANNEALED_LR_SHARE of its peak or less (a decayed schedule)."""
        rates = [r for r in self.lr if math.isfinite(r) and r > 0]
        return bool(rates) and self.lr[-1] <= ANNEALED_LR_SHARE * max(rates)


def slope(values: Sequence[float]) -> float:
    """Least-squares slope per epoch of the finite values (NaN with fewer than two)."""
    points = [(i, v) for i, v in enumerate(values) if math.isfinite(v)]
    if len(points) < 2:
        return math.nan
    mean_i = sum(i for i, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((i - mean_i) ** 2 for i, _ in points)
    return sum((i - mean_i) * (v - mean_v) for i, v in points) / spread
