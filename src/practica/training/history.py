"""The per-epoch record of a training run, as the diagnosis and the report read it."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

StopReason = Literal["completed", "early_stopping", "diverged"]


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's batches, with augmentation and dropout active
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float  # learning rate at the end of the epoch
    seconds: float  # wall time of the epoch, training and validation


@dataclass(frozen=True)
class History:
    """A training run, epoch by epoch, and how it ended.

    ``best_epoch`` is the epoch whose weights the model keeps (restored by early stopping,
    or the last one). ``monitor`` names the metric early stopping watched.
    """

    epochs: tuple[EpochRecord, ...]
    stop_reason: StopReason = "completed"
    best_epoch: int | None = None
    monitor: str = "val_loss"
    max_epochs: int = 0
    stop_detail: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    def column(self, name: str) -> list[float]:
        return [getattr(r, name) for r in self.epochs]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(EpochRecord)])
        writer.writeheader()
        for r in self.epochs:
            writer.writerow(asdict(r))
        return out.getvalue()

    def to_dict(self) -> dict:
        return {
            "epochs": [asdict(r) for r in self.epochs],
            "stop_reason": self.stop_reason,
            "best_epoch": self.best_epoch,
            "monitor": self.monitor,
            "max_epochs": self.max_epochs,
            "stop_detail": self.stop_detail,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(
            epochs=tuple(EpochRecord(**{k: _num(v) for k, v in r.items()}) for r in d["epochs"]),
            stop_reason=d.get("stop_reason", "completed"),
            best_epoch=d.get("best_epoch"),
            monitor=d.get("monitor", "val_loss"),
            max_epochs=d.get("max_epochs", 0),
            stop_detail=d.get("stop_detail", ""),
            extra=dict(d.get("extra", {})),
        )


def _num(v: float | int | None) -> float | int:
    return math.nan if v is None else v
