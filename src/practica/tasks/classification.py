"""Classification: a class per sample, cross-entropy on logits, accuracy and macro-F1."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from practica import text
from practica.tasks.base import Column, Metric, Task
from practica.tasks.regression import NUMERIC_SOURCES

if TYPE_CHECKING:
    import torch
    from torch import nn

    from practica.config.schema import Suite, TrainSpec
    from practica.data.records import Dataset
    from practica.evaluation.records import SplitMetrics

REGRESSION_ONLY_MODELS = ("linear_regression", "ridge")


def _percent(v: float) -> str:
    return text.percent(v)  # the one share format: 99.96% never reads 100.0% here and 99.96% in a table


def _points(d: float) -> str:
    return text.points(abs(d))


def _percentage_points(d: float) -> str:
    return f"{d * 100:g} percentage points"


def _share(name: str, label: str, read) -> Metric:
    return Metric(name, label, True, read, _percent, _points, _percentage_points, share=True)


def labels_at_threshold(probs: np.ndarray, positive: int, threshold: float) -> np.ndarray:
    """Two classes' (N, 2) probabilities → (N,) class indices: ``positive`` where its probability reaches
    ``threshold``, the other class elsewhere. The one decision rule of a model with a chosen threshold: the
    run that chose it, ``practica predict`` and ``practica serve`` all apply this.

    >>> labels_at_threshold(np.array([[0.3, 0.7], [0.8, 0.2]]), positive=0, threshold=0.25)
    array([0, 0])
    """
    return np.where(probs[:, positive] >= threshold, positive, 1 - positive)


class Classification(Task):
    name = "classification"
    metrics = (
        _share("val_accuracy", "validation accuracy", lambda m: m.classification.accuracy),
        _share("val_macro_f1", "validation macro-F1", lambda m: m.classification.macro_f1),
        Metric("val_loss", "validation loss", False, lambda m: m.loss, lambda v: f"{v:.3f}",
               lambda d: f"{abs(d):.4f}", lambda d: f"{d:g}"),
    )
    default_metric = "val_accuracy"
    target_dtype = np.int64
    has_classes = True
    columns = (Column("Val acc", "val", "val_accuracy"), Column("Val F1", "val", "val_macro_f1"),
               Column("Test acc", "test", "val_accuracy"))
    epoch_metrics = ("train_accuracy", "val_accuracy")
    history_columns = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
    chance = "a uniform guess"

    def describe(self, num_classes: int) -> str:
        return f"{num_classes} classes"

    def test_summary(self, metrics: SplitMetrics) -> str:
        return f"{100 * metrics.classification.accuracy:.1f}% accuracy"

    def output_width(self, num_classes: int) -> int:
        return num_classes

    def chance_loss(self, num_classes: int) -> float:
        return math.log(num_classes)

    def targets(self, y: np.ndarray) -> torch.Tensor:
        """Class indices as the loss takes them (int64)."""
        import torch

        return torch.from_numpy(y).long()

    def losses(self, model: nn.Module, train: Dataset, spec: TrainSpec,
               device: torch.device) -> tuple[nn.Module, nn.Module]:
        """Cross-entropy with ``spec.label_smoothing`` and ``spec.class_weight``; the recorded loss is
        unweighted, so the training loss compares with the (unweighted) validation loss."""
        from torch import nn

        from practica.tasks.losses import class_weights

        weights = class_weights(train, spec, device)
        loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=spec.label_smoothing)
        return loss_fn, loss_fn if weights is None else nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing)

    def check_source(self, source: str) -> None:
        if source in NUMERIC_SOURCES:
            raise ValueError(
                f"source '{source}' is a regression set (its target is a number, not a class); "
                "use dataset.task: regression or auto"
            )

    def check_settings(self, suite: Suite, why: str) -> None:
        for i, exp in enumerate(suite.experiments):
            where, model = f"experiments[{i}] ({exp.name})", exp.model.sklearn
            if model in REGRESSION_ONLY_MODELS:
                raise ValueError(
                    f"{where}.model.sklearn '{model}' is a regressor, but {why}; use logistic_regression (the linear "
                    "classifier) or another classifier"
                )
