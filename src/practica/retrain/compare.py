"""The challenger against the production version on the same fresh test samples, both through their ONNX
bundles (``Bundle.predict_proba``: no torch), overall and per class, with a paired bootstrap interval of the
difference and McNemar's exact test (``evaluation.intervals``).

Each model is scored on what it would answer: its bundle's decision (``Bundle.decide``, the decision threshold
where the card has one), so accuracy and macro-F1 are those of the served answers; the loss is the
probabilities'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from practica.evaluation.intervals import Bootstrap, bootstrap, mcnemar
from practica.evaluation.records import Interval
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.bundle.load import Bundle

CHALLENGER, PRODUCTION = "challenger", "production"


@dataclass(frozen=True)
class ClassChange:
    """One class's recall (the share of its test samples answered right) under each model."""

    name: str
    samples: int
    production: float
    challenger: float

    @property
    def change(self) -> float:
        return self.challenger - self.production

    def to_dict(self) -> dict:
        return {"class": self.name, "samples": self.samples, "production_recall": round(self.production, 6),
                "challenger_recall": round(self.challenger, 6), "change": round(self.change, 6)}


@dataclass(frozen=True)
class Comparison:
    """Both models on ``samples`` test samples. ``gain`` is the challenger's advantage on ``metric`` (challenger
    minus production where higher is better, production minus challenger for a loss); ``gain_interval`` its
    paired bootstrap interval, in the same sense."""

    metric: str
    samples: int
    production: float
    challenger: float
    production_interval: Interval
    challenger_interval: Interval
    gain: float
    gain_interval: Interval
    mcnemar_p: float
    production_accuracy: float
    challenger_accuracy: float
    classes: tuple[ClassChange, ...]

    def to_dict(self) -> dict:
        return {
            "metric": self.metric, "samples": self.samples,
            "production": round(self.production, 6), "challenger": round(self.challenger, 6),
            "production_interval": self.production_interval.model_dump(),
            "challenger_interval": self.challenger_interval.model_dump(),
            "gain": round(self.gain, 6), "gain_interval": self.gain_interval.model_dump(),
            "mcnemar_p": self.mcnemar_p,
            "accuracy": {"production": round(self.production_accuracy, 6),
                         "challenger": round(self.challenger_accuracy, 6)},
            "per_class": [c.to_dict() for c in self.classes],
        }


def aligned_proba(bundle: Bundle, x: np.ndarray, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``bundle``'s probabilities on ``x`` with their columns in the order of ``classes``, and its answers as
    indices into ``classes``. The bundle must know every class of ``classes`` (the hygiene gate checks it)."""
    proba = np.asarray(bundle.predict_proba(x), dtype=np.float64)
    answers = bundle.decide(proba)
    order = np.array([bundle.classes.index(c) for c in classes])
    to_ours = np.full(len(bundle.classes), -1)
    to_ours[order] = np.arange(len(classes))
    return proba[:, order], to_ours[answers]


def compare(challenger: Bundle, production: Bundle, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...],
            metric: str, resampling: Bootstrap | None = None) -> Comparison:
    """Score both bundles on the test samples ``x`` with labels ``y`` (indices into ``classes``) by ``metric``
    (a classification metric's name, ``val_accuracy``: the selection's), each with its interval, and the paired
    interval of their difference."""
    task = get_task("classification")
    m = task.metric(metric)
    y = np.asarray(y, dtype=np.int64)
    outputs, answers = {}, {}
    for name, bundle in ((CHALLENGER, challenger), (PRODUCTION, production)):
        proba, answer = aligned_proba(bundle, x, classes)
        answers[name] = answer
        # Accuracy and macro-F1 of the served answers (one-hot); the loss of the probabilities.
        outputs[name] = proba if metric == "val_loss" else _one_hot(answer, len(classes))
    boot = bootstrap(outputs, y, "classification", (metric,), resampling or Bootstrap())
    sign = 1.0 if m.higher_is_better else -1.0
    raw = boot.difference(metric, CHALLENGER, PRODUCTION)
    gain_interval = raw if sign > 0 else Interval(low=-raw.high, high=-raw.low, level=raw.level)
    right = {name: answers[name] == y for name in answers}
    per_class = tuple(
        ClassChange(name=c, samples=int(np.sum(y == k)),
                    production=float(right[PRODUCTION][y == k].mean()) if np.any(y == k) else float("nan"),
                    challenger=float(right[CHALLENGER][y == k].mean()) if np.any(y == k) else float("nan"))
        for k, c in enumerate(classes))
    return Comparison(
        metric=metric, samples=len(y),
        production=boot.point(metric, PRODUCTION), challenger=boot.point(metric, CHALLENGER),
        production_interval=boot.interval(metric, PRODUCTION), challenger_interval=boot.interval(metric, CHALLENGER),
        gain=sign * (boot.point(metric, CHALLENGER) - boot.point(metric, PRODUCTION)), gain_interval=gain_interval,
        mcnemar_p=mcnemar(right[CHALLENGER], right[PRODUCTION]),
        production_accuracy=float(right[PRODUCTION].mean()), challenger_accuracy=float(right[CHALLENGER].mean()),
        classes=per_class,
    )


def _one_hot(labels: np.ndarray, width: int) -> np.ndarray:
    return np.eye(width)[labels]
