"""The per-epoch record of a training run, as the diagnosis and the report read it."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from practica.tasks import get_task

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
    # Regression only (None for classification, whose accuracies are NaN for regression): R² of the
    # epoch's training batches (1 - train loss, the loss being MSE on the standardised target) and
    # of the validation split, and the validation mean absolute error in the target's units.
    train_r2: float | None = None
    val_r2: float | None = None
    val_mae: float | None = None


REGRESSION_COLUMNS = ("train_r2", "val_r2", "val_mae")
ACCURACY_COLUMNS = ("train_accuracy", "val_accuracy")


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
    # How per-epoch validation differs from the evaluation, when it does (e.g. one view per image
    # where the model averages several): the report says it beside the curves' numbers.
    validation_note: str = ""

    def column(self, name: str) -> list[float]:
        return [getattr(r, name) for r in self.epochs]

    @property
    def task(self) -> str:
        """The task the run learned (``practica.tasks``): a regression's records hold R², not accuracy."""
        regression = any(r.val_r2 is not None or r.train_r2 is not None for r in self.epochs)
        return "regression" if regression else "classification"

    def to_csv(self) -> str:
        """One row per epoch: a classification's accuracies, or a regression's R² and MAE."""
        out = io.StringIO()
        dropped = REGRESSION_COLUMNS if get_task(self.task).has_classes else ACCURACY_COLUMNS
        names = [f.name for f in fields(EpochRecord) if f.name not in dropped]
        writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore")
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
            "validation_note": self.validation_note,
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(
            epochs=tuple(EpochRecord(**_record_fields(r, d)) for r in d["epochs"]),
            stop_reason=d.get("stop_reason", "completed"),
            best_epoch=d.get("best_epoch"),
            monitor=d.get("monitor", "val_loss"),
            max_epochs=d.get("max_epochs", 0),
            stop_detail=d.get("stop_detail", ""),
            extra=dict(d.get("extra", {})),
            validation_note=d.get("validation_note", ""),
        )


def _record_fields(r: dict, d: dict) -> dict[str, Any]:
    """One stored epoch record ``r`` of the history ``d`` as ``EpochRecord``'s keyword arguments."""
    return {k: v if k in REGRESSION_COLUMNS and not _regression(d) else _num(v) for k, v in r.items()}


def _regression(d: dict) -> bool:
    return any(r.get("val_r2") is not None or r.get("train_r2") is not None for r in d["epochs"])


def _num(v: float | int | None) -> float | int:
    return math.nan if v is None else v
