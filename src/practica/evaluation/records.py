"""What the evaluation stage hands on: quality per split, and cost per model."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class SplitMetrics:
    loss: float  # mean cross-entropy of the predicted probabilities
    accuracy: float
    macro_f1: float
    ece: float  # expected calibration error, 15 equal-width confidence bins
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class
    n: int

    @classmethod
    def from_dict(cls, d: dict) -> SplitMetrics:
        return cls(
            **{**d, "per_class": tuple(ClassMetrics(**c) for c in d["per_class"]),
               "confusion": tuple(tuple(r) for r in d["confusion"])}
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
    train_accuracy: float  # on the training split without augmentation; for the gap
    val: SplitMetrics
    test: SplitMetrics
    cost: Cost

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Evaluation:
        return cls(
            train_accuracy=d["train_accuracy"],
            val=SplitMetrics.from_dict(d["val"]),
            test=SplitMetrics.from_dict(d["test"]),
            cost=Cost(**d["cost"]),
        )


@dataclass(frozen=True)
class CrossValidation:
    """k-fold accuracy of a baseline on train+val (folds stratified, seeded, duplicate groups whole)."""

    folds: int
    accuracies: tuple[float, ...]  # one per fold
    samples: int  # train + val samples the folds were drawn from
    groups: int  # of them, the duplicate groups (== samples when there are no duplicates)

    @property
    def mean(self) -> float:
        return float(sum(self.accuracies) / len(self.accuracies))

    @property
    def std(self) -> float:
        m = self.mean
        return float((sum((a - m) ** 2 for a in self.accuracies) / len(self.accuracies)) ** 0.5)

    def to_dict(self) -> dict:
        return {"folds": self.folds, "accuracy_mean": self.mean, "accuracy_std": self.std,
                "fold_accuracies": list(self.accuracies), "samples": self.samples, "groups": self.groups}

    @classmethod
    def from_dict(cls, d: dict) -> CrossValidation:
        return cls(folds=d["folds"], accuracies=tuple(d["fold_accuracies"]), samples=d["samples"], groups=d["groups"])
