"""What the evaluation stage hands on: quality per split, and cost per model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class RegressionMetrics:
    """A regression's quality on one split, in the target's units (R² is unitless)."""

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

    @classmethod
    def from_dict(cls, d: dict) -> RegressionMetrics:
        return cls(**{**d, "actual": tuple(d.get("actual", ())), "predicted": tuple(d.get("predicted", ()))})


@dataclass(frozen=True)
class SplitMetrics:
    loss: float  # mean cross-entropy of the predicted probabilities; a regression's MSE
    accuracy: float  # NaN for regression, as are macro_f1 and ece
    macro_f1: float
    ece: float  # expected calibration error, 15 equal-width confidence bins
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class
    n: int
    regression: RegressionMetrics | None = None  # a regression's own figures

    @property
    def task(self) -> str:
        """The task these figures are of, by the figures there are (``practica.tasks``)."""
        return "classification" if self.regression is None else "regression"

    @classmethod
    def from_dict(cls, d: dict) -> SplitMetrics:
        reg = d.get("regression")
        return cls(
            **{**d, "per_class": tuple(ClassMetrics(**c) for c in d["per_class"]),
               "confusion": tuple(tuple(r) for r in d["confusion"]),
               "regression": RegressionMetrics.from_dict(reg) if reg else None}
        )


@dataclass(frozen=True)
class Cost:
    """Size and speed, measured one model after another in the same process so they compare."""

    params: int
    size_bytes: int  # weights as stored (float32 tensors, or the pickled estimator's bytes)
    latency_p50_ms: float  # one sample per call
    latency_p95_ms: float
    throughput: float  # samples per second at the evaluation batch size

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


@dataclass(frozen=True)
class Evaluation:
    train_accuracy: float  # on the training split without augmentation; for the gap (NaN for regression)
    val: SplitMetrics
    test: SplitMetrics
    cost: Cost
    train_r2: float = float("nan")  # a regression's R² on the training split; for the gap

    @property
    def task(self) -> str:
        """The task evaluated (``practica.tasks``)."""
        return self.val.task

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Evaluation:
        return cls(
            train_accuracy=d["train_accuracy"],
            val=SplitMetrics.from_dict(d["val"]),
            test=SplitMetrics.from_dict(d["test"]),
            cost=Cost(**d["cost"]),
            train_r2=_num(d.get("train_r2")),
        )


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
