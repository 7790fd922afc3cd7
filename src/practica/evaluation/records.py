"""What the evaluation stage hands on: quality per split, and cost per model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


class ClassificationMetrics(BaseModel):
    """A classification's own figures on one split."""

    model_config = ConfigDict(frozen=True)

    task: Literal["classification"] = "classification"
    accuracy: float
    macro_f1: float
    ece: float  # expected calibration error, 15 equal-width confidence bins
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class


class RegressionMetrics(BaseModel):
    """A regression's quality on one split, in the target's units (R² is unitless)."""

    model_config = ConfigDict(frozen=True)

    task: Literal["regression"] = "regression"
    mse: float
    rmse: float
    mae: float
    r2: float  # 1 - MSE / variance of the split's targets: 0 is predicting their mean, 1 is perfect
    residual_mean: float  # mean of predicted - actual: a bias, when far from 0
    residual_std: float
    max_abs_error: float
    target_std: float  # the split's target std: the RMSE of predicting its mean, for scale
    # Up to PLOT_POINTS (actual, predicted) pairs, evenly spaced over the split: the report's scatter.
    actual: tuple[float, ...] = ()
    predicted: tuple[float, ...] = ()


Figures = Annotated[ClassificationMetrics | RegressionMetrics, Field(discriminator="task")]
_CLASSIFICATION_FIELDS = ("accuracy", "macro_f1", "ece", "per_class", "confusion")


class SplitMetrics(BaseModel):
    """Quality on one split: what every task has (``loss``, ``n``) and the task's own ``figures``."""

    model_config = ConfigDict(frozen=True)

    loss: float  # mean cross-entropy of the predicted probabilities; a regression's MSE
    n: int
    figures: Figures

    @property
    def task(self) -> str:
        """The task these figures are of (``practica.tasks``)."""
        return self.figures.task

    @property
    def classification(self) -> ClassificationMetrics:
        """The figures of a classification; a regression's raise ValueError."""
        if not isinstance(self.figures, ClassificationMetrics):
            raise ValueError("these are a regression's metrics: they have no accuracy, F1 or calibration")
        return self.figures

    @property
    def regression(self) -> RegressionMetrics:
        """The figures of a regression; a classification's raise ValueError."""
        if not isinstance(self.figures, RegressionMetrics):
            raise ValueError("these are a classification's metrics: they have no R², RMSE or MAE")
        return self.figures

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, d: Any) -> Any:
        """Metrics as runs before the task-shaped record wrote them: the classification's fields at the top
        (NaN for a regression) beside ``regression`` (null for a classification)."""
        if not isinstance(d, dict) or "figures" in d:
            return d
        reg = d.get("regression")
        figures = ({**reg, "task": "regression"} if reg is not None
                   else {"task": "classification", **{k: d[k] for k in _CLASSIFICATION_FIELDS}})
        return {"loss": d["loss"], "n": d["n"], "figures": figures}


@dataclass(frozen=True, eq=False)
class Predictions:
    """A model's outputs for every validation and test sample, in split order: (N, classes) probabilities
    for a classifier, (N, 1) values for a regressor. What every comparison beyond the averages rests on:
    bootstrap intervals and paired tests (same samples, two models), slices, the most confident mistakes."""

    val: np.ndarray
    test: np.ndarray

    def split(self, part: Literal["val", "test"]) -> np.ndarray:
        return self.val if part == "val" else self.test


class Interval(BaseModel):
    """A confidence interval: [``low``, ``high``] holds the true value with probability ``level`` (0.95)."""

    model_config = ConfigDict(frozen=True)

    low: float
    high: float
    level: float = 0.95

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


@dataclass(frozen=True)
class Cost:
    """Size and speed, measured one model after another in the same process so they compare."""

    params: int
    size_bytes: int  # weights as stored (float32 tensors, or the pickled estimator's bytes)
    latency_p50_ms: float  # one sample per call
    latency_p95_ms: float
    throughput: float  # samples per second at the evaluation batch size
    # The percentiles' distribution-free confidence intervals (order statistics) and the calls timed; None
    # in a cost.json from before they were measured.
    latency_p50_interval: Interval | None = None
    latency_p95_interval: Interval | None = None
    latency_calls: int | None = None

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def train_from_flat(d: Any) -> Any:
    """A record that held the training split's figure as ``train_accuracy`` (NaN for a regression) and
    ``train_r2`` (NaN or absent for a classification), as runs before the task-shaped records wrote it,
    with that figure as ``train``; a record that has ``train`` comes back as it is."""
    if not isinstance(d, dict) or "train" in d or "train_accuracy" not in d:
        return d
    out = {k: v for k, v in d.items() if k not in ("train_accuracy", "train_r2")}
    regression = isinstance(d["val"], dict) and d["val"].get("regression") is not None
    out["train"] = _num(d.get("train_r2")) if regression else d["train_accuracy"]
    return out


class Evaluation(BaseModel):
    """A model's quality on the splits and its cost (``metrics.json``)."""

    model_config = ConfigDict(frozen=True)

    # The task's fit figure on the training split, without augmentation, for the train–val gap: a
    # classification's accuracy, a regression's R².
    train: float
    val: SplitMetrics
    test: SplitMetrics
    cost: Cost
    # Each of the task's validation metrics' bootstrap interval (over the validation samples), by metric name
    # ("val_accuracy"); empty in a metrics.json from before they were computed.
    intervals: dict[str, Interval] = Field(default_factory=dict)

    @property
    def task(self) -> str:
        """The task evaluated (``practica.tasks``)."""
        return self.val.task

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, d: Any) -> Any:
        return train_from_flat(d)


class CrossValidation(BaseModel):
    """k-fold accuracy of a baseline on train+val (folds stratified, seeded, duplicate groups whole).

    As JSON, the fold accuracies are ``fold_accuracies``, with their ``accuracy_mean`` and ``accuracy_std``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    folds: int
    accuracies: tuple[float, ...] = Field(alias="fold_accuracies")  # one per fold
    samples: int  # train + val samples the folds were drawn from
    groups: int  # of them, the duplicate groups (== samples when there are no duplicates)

    @property
    def mean(self) -> float:
        return float(sum(self.accuracies) / len(self.accuracies))

    @property
    def std(self) -> float:
        m = self.mean
        return float((sum((a - m) ** 2 for a in self.accuracies) / len(self.accuracies)) ** 0.5)

    @model_serializer(mode="wrap")
    def _with_summary(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {**handler(self), "accuracy_mean": self.mean, "accuracy_std": self.std}


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)
