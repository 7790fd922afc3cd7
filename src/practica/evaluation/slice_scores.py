"""Every model scored on every slice, and where the error to win back lies.

The slice metric is the selection metric when it is a mean over samples (accuracy, loss, MAE, MSE), so a
slice's gap times its share of the samples is exactly what closing that gap adds to the whole split's
figure; for a metric that is not (macro-F1, R², RMSE) it is the task's per-sample one: accuracy for a
classification, MAE for a regression (R² within a narrow slice says more about the slice's spread than
about the model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import TypeAdapter

from practica.data.records import Splits
from practica.evaluation.metrics import score_outputs
from practica.evaluation.records import Predictions
from practica.evaluation.slices import SliceSet
from practica.tasks import Metric, get_task

# A selection metric that is not a mean over samples → the per-sample one slices are scored with.
SLICE_METRIC = {"val_macro_f1": "val_accuracy", "val_r2": "val_mae", "val_rmse": "val_mae"}


def slice_metric(task: str, selection_metric: str | None) -> Metric:
    """The metric slices are scored with, for ``selection_metric`` (None: the task's default)."""
    t = get_task(task)
    name = t.metric(selection_metric).name
    return t.metric(SLICE_METRIC.get(name, name))


@dataclass(frozen=True)
class SliceScore:
    """One model on one slice: validation samples, their share of the split, the slice metric on validation;
    the same on test, shown beside it and never used to choose."""

    name: str
    group: str
    n: int
    share: float
    value: float
    test_n: int
    test_value: float


@dataclass(frozen=True)
class SliceScores:
    """One model on every slice (``slices.json``): the metric's name and direction, and the sample count a
    slice needs before a selection floor applies to it (fewer make its figure too noisy to reject on)."""

    metric: str
    higher_is_better: bool
    min_samples: int
    slices: tuple[SliceScore, ...]
    notes: tuple[str, ...] = ()  # how the slices were chosen (``SliceSet.notes``)

    def get(self, name: str) -> SliceScore | None:
        return next((s for s in self.slices if s.name == name), None)


SLICE_SCORES: TypeAdapter[SliceScores] = TypeAdapter(SliceScores)


def score_slices(slices: SliceSet, predictions: Predictions, splits: Splits, metric: Metric,
                 min_samples: int) -> SliceScores:
    """``metric`` on every slice of validation and test, from the model's recorded ``predictions``."""
    task = splits.val.task
    out = []
    for s in slices.slices:
        value, test_value = (_value(predictions.split(p), getattr(splits, p).y, s.mask(p), splits, task, metric)
                             for p in ("val", "test"))
        n = int(s.val.sum())
        out.append(SliceScore(s.name, s.group, n, n / max(1, len(splits.val)), value, int(s.test.sum()), test_value))
    return SliceScores(metric.name, metric.higher_is_better, min_samples, tuple(out), slices.notes)


def _value(outputs: np.ndarray, y: np.ndarray, mask: np.ndarray, splits: Splits, task: str, metric: Metric) -> float:
    if not mask.any():
        return math.nan
    return float(metric.value(score_outputs(outputs[mask], y[mask], splits.classes, task)))


@dataclass(frozen=True)
class Gap:
    """What a slice costs the chosen model: ``gap`` (the reference's figure minus its own, in the metric's
    better direction, never negative) times the slice's ``share`` of the samples is ``weighted``."""

    name: str
    n: int
    share: float
    value: float
    reference: float
    reference_name: str  # the best experiment on the slice, or "human level"
    gap: float
    weighted: float


def gaps(chosen: SliceScores, others: dict[str, SliceScores], human_level: float | dict[str, float] | None,
         ) -> tuple[Gap, ...]:
    """Per slice, the chosen model's gap to the reference, weighted by the slice's share; largest first.

    The reference is ``human_level`` when given (one number, or per slice name with ``*`` for the rest),
    else the best of every model (``others``, the chosen one among them may be) on that slice."""
    sign = 1.0 if chosen.higher_is_better else -1.0
    out = []
    for s in chosen.slices:
        if not math.isfinite(s.value):
            continue
        ref = _reference(s.name, others, human_level, sign)
        if ref is None:
            continue
        value, who = ref
        gap = max(0.0, sign * (value - s.value))
        out.append(Gap(s.name, s.n, s.share, s.value, value, who, gap, gap * s.share))
    return tuple(sorted(out, key=lambda g: -g.weighted))


def _reference(name: str, others: dict[str, SliceScores], human_level: float | dict[str, float] | None,
               sign: float) -> tuple[float, str] | None:
    if isinstance(human_level, dict):
        level = human_level.get(name, human_level.get("*"))
        if level is not None:
            return float(level), "human level"
    elif human_level is not None:
        return float(human_level), "human level"
    scored = [(sc.value, exp) for exp, scores in others.items()
              if (sc := scores.get(name)) is not None and math.isfinite(sc.value)]
    if not scored:
        return None
    value, exp = max(scored, key=lambda t: sign * t[0])
    return value, exp


def below_floor(scores: SliceScores, floors: dict[str, float]) -> tuple[SliceScore, float] | None:
    """The slice, with enough samples, on which ``scores`` fall furthest short of their floor (``floors``:
    per slice name, ``*`` for every other); None when every such slice meets its floor."""
    sign = 1.0 if scores.higher_is_better else -1.0
    worst: tuple[float, SliceScore, float] | None = None
    for s in scores.slices:
        floor = floors.get(s.name, floors.get("*"))
        if floor is None or s.n < scores.min_samples or not math.isfinite(s.value):
            continue
        short = sign * (floor - s.value)
        if short > 0 and (worst is None or short > worst[0]):
            worst = (short, s, floor)
    return None if worst is None else (worst[1], worst[2])

