"""What the training loop needs to know of the task: its loss, its targets, its validation and its epoch record.

``objective_for`` is the one place in ``training`` that tells a classification from a regression: the
loop, the callbacks and the device adapter ask the ``Objective`` and never look at the task.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from practica.config.schema import TrainSpec
from practica.data.records import Dataset
from practica.models.classifier import Network
from practica.models.hooks import MultiView
from practica.tasks import get_task
from practica.training.batches import Mapped, Resident
from practica.training.history import EpochRecord
from practica.training.validation import validate, validate_regression


@dataclass(frozen=True)
class Objective:
    """``loss`` is trained; ``recorded`` is the loss the history records when it differs (class weights:
    the unweighted loss, so the training loss compares with the unweighted validation loss, for the
    diagnosis too). ``guess_loss`` is the loss of a know-nothing ``guess``, the divergence guard's yardstick."""

    loss: nn.Module
    recorded: nn.Module | None
    regression: bool
    guess_loss: float
    guess: str

    def targets(self, data: Dataset, device: torch.device) -> torch.Tensor:
        """Class indices (int64), or a regression's values (float32)."""
        return get_task(data.task).targets(np.asarray(data.y)).to(device)

    def batch_loss(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch's recorded loss, summed over its samples."""
        return (loss.detach() if self.recorded is None else self.recorded(logits.detach(), y)) * len(y)

    def correct(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """How many of the batch's predictions are right (None: a regression has no accuracy)."""
        return None if self.regression else (logits.detach().argmax(1) == y).sum()

    def validate(self, model: Network, x: Resident | Mapped, y: torch.Tensor, bf16: bool) -> dict[str, float]:
        """The epoch's validation loss and figures, named as ``EpochRecord`` holds them. A network with several
        views in evaluation (``MultiView``) is classified with one: the curves follow the network as trained."""
        if self.regression:
            loss, r2, mae = validate_regression(model, x, y, self.loss)
            return {"val_loss": loss, "val_r2": r2, "val_mae": mae}
        with model.body.single_view() if isinstance(model.body, MultiView) else contextlib.nullcontext():
            loss, accuracy = validate(model, x, y, bf16)
        return {"val_loss": loss, "val_accuracy": accuracy}

    def not_validated(self) -> dict[str, float]:
        """The validation figures of an epoch that diverged before its end."""
        return {"val_loss": math.nan, **({"val_r2": math.nan, "val_mae": math.nan} if self.regression
                                         else {"val_accuracy": math.nan})}

    def record(self, epoch: int, train_loss: float, train_accuracy: float, val: dict[str, float], *, lr: float,
               seconds: float) -> EpochRecord:
        finite = math.isfinite(train_loss)
        if not math.isfinite(val["val_loss"]):  # a diverged validation: an accuracy still counts, R² and MAE not
            val = {**val, "val_loss": math.nan, **({"val_r2": math.nan, "val_mae": math.nan} if self.regression
                                                   else {})}
        val_loss = val.pop("val_loss")
        train = ({"train_r2": 1.0 - train_loss if finite else math.nan} if self.regression
                 else {"train_accuracy": train_accuracy})
        return EpochRecord(epoch=epoch, train_loss=train_loss if finite else math.nan, val_loss=val_loss, lr=lr,
                           seconds=seconds, metrics={**train, **val})


def objective_for(train: Dataset, spec: TrainSpec, model: Network, device: torch.device) -> Objective:
    """Cross-entropy (class-weighted and label-smoothed as ``spec`` says) against the loss of a uniform guess,
    ln(classes); a regression's MSE on the standardised target against that of predicting the training mean,
    1.0 (label smoothing and class weights are refused for a regression by the config)."""
    task = get_task(train.task)
    loss, recorded = task.losses(model, train, spec, device)
    return Objective(loss, None if recorded is loss else recorded, not task.has_classes,
                     task.chance_loss(len(train.classes)), task.chance)
