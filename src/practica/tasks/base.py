"""What a learning task is: its metrics (one registry, read by the selection, the report and the
config checks alike), its loss and output head, and the settings it refuses.

A task is a ``Task`` subclass in a module of its own (``classification.py``, ``regression.py``),
found by name with ``practica.tasks.get_task``; a new metric is one ``Metric`` in its task's
``metrics``. Nothing here imports torch at import time: the config and the report read metrics
without it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from practica.config.schema import Suite, TrainSpec
    from practica.data.records import Dataset
    from practica.evaluation.records import Evaluation, Interval, SplitMetrics

DASH = "—"


@dataclass(frozen=True)
class Metric:
    """One quality figure of a task, as every stage names, reads and shows it.

    ``name`` is how the suite file names it (``selection.metric``); ``value`` reads it from a split's
    metrics; ``text`` shows a value, ``difference`` a gap between two values (the selection's reasons),
    ``tolerance`` a declared tolerance with its unit spelled out (the report's policy table).
    """

    name: str
    label: str  # as a sentence reads it: "validation accuracy"
    higher_is_better: bool
    value: Callable[[SplitMetrics], float]
    text: Callable[[float], str]
    difference: Callable[[float], str]
    tolerance: Callable[[float], str]
    share: bool = False  # a share in [0, 1], shown as a percentage (a plot's axis too)

    def show(self, value: float | None) -> str:
        """``value`` as ``text`` shows it; a dash for a missing or non-finite one."""
        return DASH if value is None or not math.isfinite(value) else self.text(value)

    def show_with(self, value: float | None, interval: Interval | None) -> str:
        """``value`` with its confidence interval, one unit for both: "98.5% (97.4–99.3)", "0.912 (0.887–0.931)";
        ``show`` alone without an interval.

        >>> from practica.evaluation.records import Interval
        >>> from practica.tasks import get_task
        >>> get_task("classification").metric().show_with(0.985, Interval(low=0.974, high=0.993))
        '98.5% (97.4–99.3)'
        """
        text = self.show(value)
        if interval is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
            return text
        unit = "%" if self.share else ""
        return f"{text} ({self.show(interval.low).removesuffix(unit)}–{self.show(interval.high).removesuffix(unit)})"

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"


@dataclass(frozen=True)
class Column:
    """A quality column of the report's comparison table: ``metric`` read on the ``split``."""

    header: str
    split: str  # "val" | "test"
    metric: str


class Task(ABC):
    """A kind of learning problem. Subclasses set the class attributes and the abstract methods."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[Metric, ...]]
    default_metric: ClassVar[str]  # selection.metric when the suite names none
    has_classes: ClassVar[bool]  # targets are class indices (predictions, per-class figures, class counts)
    target_dtype: ClassVar[type]  # the targets' numpy type, as the data fingerprint hashes them
    columns: ClassVar[tuple[Column, ...]]  # the report's comparison table, between size and latency
    # The figures an epoch of training records beside its losses (``EpochRecord.metrics``), and history.csv's
    # header: the record's fields and those figures, in the order the runs have always written them.
    epoch_metrics: ClassVar[tuple[str, ...]]
    history_columns: ClassVar[tuple[str, ...]]
    chance: ClassVar[str]  # the trivial predictor the divergence guard compares the loss with

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def metric(self, name: str | None = None) -> Metric:
        """The metric ``name``, or the task's default for None; one the task lacks raises ValueError.

        >>> from practica.tasks import get_task
        >>> get_task("regression").metric().label
        'validation R²'
        """
        name = self.default_metric if name is None else name
        for m in self.metrics:
            if m.name == name:
                return m
        raise ValueError(f"'{name}' is not a {self.name} metric; use one of {', '.join(self.metric_names)}")

    def cell(self, column: Column, evaluation: Evaluation) -> tuple[float, str]:
        """``column``'s value in ``evaluation``, and its text."""
        metric = self.metric(column.metric)
        value = metric.value(getattr(evaluation, column.split))
        return value, metric.show(value)

    @abstractmethod
    def describe(self, num_classes: int) -> str:
        """The target in a few words: "10 classes", "regression (a numeric target)"."""

    @abstractmethod
    def test_summary(self, metrics: SplitMetrics) -> str:
        """The test split's figures in a sentence of the selection's summary: "97.3% accuracy"."""

    @abstractmethod
    def output_width(self, num_classes: int) -> int:
        """Units of the network's last layer."""

    @abstractmethod
    def chance_loss(self, num_classes: int) -> float:
        """The training loss of ``chance``: the divergence guard's reference."""

    @abstractmethod
    def targets(self, y: np.ndarray) -> torch.Tensor:
        """The targets ``y`` as a tensor the loss takes."""

    @abstractmethod
    def losses(self, model: nn.Module, train: Dataset, spec: TrainSpec,
               device: torch.device) -> tuple[nn.Module, nn.Module]:
        """The training loss and the loss the history records (the same but unweighted)."""

    @abstractmethod
    def check_source(self, source: str) -> None:
        """Raise ValueError when ``dataset.source`` cannot hold this task's targets."""

    @abstractmethod
    def check_settings(self, suite: Suite, why: str) -> None:
        """Raise ValueError on a setting of ``suite`` this task cannot honour; ``why`` says how the task
        was told (for the message)."""
