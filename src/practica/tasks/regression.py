"""Regression: a number per sample, MSE on the target standardised by the training split, R², RMSE
and MAE in the target's units."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np

from practica.tasks.base import Column, Metric, Task

if TYPE_CHECKING:
    import torch
    from torch import nn

    from practica.config.schema import Suite, TrainSpec
    from practica.data.records import Dataset
    from practica.evaluation.records import SplitMetrics

NUMERIC_SOURCES = ("diabetes",)  # sets whose target is a number: a classification of them is refused
# Sources whose target may be a number: the regression set (diabetes) and the tables and arrays.
CAPABLE_SOURCES = ("diabetes", "npy", "json", "csv")
CLASSIFICATION_ONLY_MODELS = ("logistic_regression", "naive_bayes")


def _number(v: float) -> str:
    """A value in the target's units, 4 significant figures."""
    return f"{v:.4g}"


def _r2(v: float) -> str:
    return f"{v:.3f}"


def _in_units(d: float) -> str:
    return f"{d:g} (in the target's units)"


def _in_target_units(name: str, label: str, read) -> Metric:
    return Metric(name, label, False, read, _number, lambda d: _number(abs(d)), _in_units)


class Regression(Task):
    name = "regression"
    metrics = (
        # Unitless, so the absolute tolerance means the same on every data set; it ranks as
        # validation MSE does (R² = 1 - MSE / variance): the default.
        Metric("val_r2", "validation R²", True, lambda m: m.regression.r2, _r2, lambda d: _r2(abs(d)),
               lambda d: f"{d:g} R²"),
        _in_target_units("val_rmse", "validation RMSE", lambda m: m.regression.rmse),
        _in_target_units("val_mae", "validation MAE", lambda m: m.regression.mae),
        Metric("val_loss", "validation MSE", False, lambda m: m.loss, _number, lambda d: _number(abs(d)),
               lambda d: f"{d:g}"),
    )
    default_metric = "val_r2"
    target_dtype = np.float64
    has_classes = False
    columns = (Column("Val R²", "val", "val_r2"), Column("Val RMSE", "val", "val_rmse"),
               Column("Test R²", "test", "val_r2"))
    epoch_metrics = ("train_r2", "val_r2", "val_mae")
    history_columns = ("epoch", "train_loss", "val_loss", "lr", "seconds", "train_r2", "val_r2", "val_mae")
    chance = "predicting the training mean"

    def describe(self, num_classes: int) -> str:
        return "regression (a numeric target)"

    def test_summary(self, metrics: SplitMetrics) -> str:
        reg = metrics.regression
        return f"R² {reg.r2:.3f}, RMSE {reg.rmse:.4g}, MAE {reg.mae:.4g}"

    def output_width(self, num_classes: int) -> int:
        return 1

    def chance_loss(self, num_classes: int) -> float:
        return 1.0  # the standardised MSE of the training mean

    def targets(self, y: np.ndarray) -> torch.Tensor:
        """The values as the loss takes them (float32)."""
        import torch

        return torch.from_numpy(y).float()

    def losses(self, model: nn.Module, train: Dataset, spec: TrainSpec,
               device: torch.device) -> tuple[nn.Module, nn.Module]:
        """MSE on the standardised target (label smoothing and class weights are refused by the config)."""
        from practica.tasks.losses import StandardisedMSE

        # A regression's model is a Regressor (practica.models.classifier), whose y_std buffer is a tensor;
        # nn.Module's attribute lookup types a buffer as Tensor | Module.
        y_std = cast("torch.Tensor", model.y_std)
        loss_fn = StandardisedMSE(y_std).to(device)
        return loss_fn, loss_fn

    def check_source(self, source: str) -> None:
        if source not in CAPABLE_SOURCES:
            raise ValueError(
                f"dataset.task: regression needs a source whose target is a number ({', '.join(CAPABLE_SOURCES)}); "
                f"source '{source}' holds classes. Use task: classification (or auto), or another source"
            )

    def check_settings(self, suite: Suite, why: str) -> None:
        if suite.diagnosis.reachable_accuracy is not None:
            raise ValueError(f"diagnosis.reachable_accuracy is an accuracy, but {why}; remove it")
        if suite.selection.threshold is not None:
            raise ValueError(f"selection.threshold sets a decision threshold between two classes, but {why}; "
                             "remove it")
        if suite.dataset.split.cv_folds:
            raise ValueError(
                f"dataset.split.cv_folds scores baselines by cross-validated accuracy, for classification only, but "
                f"{why}; remove cv_folds (regression baselines are scored on the validation split)"
            )
        for i, exp in enumerate(suite.experiments):
            where, train, model = f"experiments[{i}] ({exp.name})", exp.train, exp.model.sklearn
            if model in CLASSIFICATION_ONLY_MODELS:
                raise ValueError(
                    f"{where}.model.sklearn '{model}' is a classifier, but {why}; use linear_regression, ridge, "
                    "knn, decision_tree or random_forest"
                )
            if train.label_smoothing:
                raise ValueError(
                    f"{where}.train.label_smoothing ({train.label_smoothing:g}) softens class labels, but {why}; "
                    "remove it"
                )
            if train.class_weight is not None:
                raise ValueError(
                    f"{where}.train.class_weight weights classes, but {why} and there are none; remove it"
                )
