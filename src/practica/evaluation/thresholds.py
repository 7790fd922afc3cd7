"""Skewed data: precision–recall curves, and a two-class model's decision threshold chosen on validation.

When one class is rare or a miss costs more than a false alarm, the most probable class is the wrong
rule: ``selection.threshold`` declares a target (``recall >= 0.95`` for the positive class) and
``choose_threshold`` finds, on the validation split, the threshold that meets it with the best other
figure (the highest precision). The test split is scored at that threshold for the record only. A
target out of reach on validation is said so, and the model keeps the most probable class.

>>> import numpy as np
>>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]], dtype=np.float32)
>>> curve = pr_curve(probs[:, 1], np.array([0, 1, 1, 1]) == 1, "yes")
>>> round(curve.average_precision, 3)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from practica.config.schema import ThresholdSpec
from practica.tasks.classification import labels_at_threshold

FEW_FLAGGED = 10  # validation samples flagged positive under which a threshold's figures are noted as thin


class OperatingPoint(BaseModel):
    """The positive class's figures on one split under one decision rule."""

    model_config = ConfigDict(frozen=True)

    precision: float  # NaN when nothing is predicted positive
    recall: float  # NaN when the split has no positive sample
    f1: float
    positives: int  # samples of the positive class in the split
    flagged: int  # samples predicted positive


class ThresholdChoice(BaseModel):
    """The decision threshold chosen for ``experiment`` (``threshold.json``), with what it does on each split
    against the most probable class (``argmax_*``)."""

    model_config = ConfigDict(frozen=True)

    experiment: str
    positive: str
    metric: Literal["recall", "precision"]
    at_least: float
    threshold: float | None  # None: the target is out of reach on validation; the most probable class decides
    val: OperatingPoint  # at the threshold (at the most probable class when there is none)
    test: OperatingPoint  # reported only: never used to choose
    argmax_val: OperatingPoint
    argmax_test: OperatingPoint
    note: str  # one sentence: what was chosen, or why nothing was

    @property
    def target(self) -> str:
        return f"{self.metric} ≥ {self.at_least:g}"


@dataclass(frozen=True, eq=False)
class PRCurve:
    """One class against the rest: precision at each recall, as the threshold on its probability falls."""

    label: str
    precision: np.ndarray
    recall: np.ndarray
    average_precision: float


def pr_curve(scores: np.ndarray, is_positive: np.ndarray, label: str) -> PRCurve:
    """The curve of ``scores`` (the positive class's probability) against ``is_positive`` (booleans)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(is_positive, scores)
    return PRCurve(label, precision, recall, float(average_precision_score(is_positive, scores)))


def pr_curves(probs: np.ndarray, y: np.ndarray, classes: tuple[str, ...], positive: str | None = None) -> list[PRCurve]:
    """One curve per class, one against the rest; for two classes only the positive one's (``positive``, by
    default the rarer class in ``y``: the one a skewed problem is about). A class absent from ``y`` has none."""
    if len(classes) == 2:
        counts = np.bincount(y, minlength=2)
        index = classes.index(positive) if positive in classes else int(counts[1] <= counts[0])
        wanted = [index]
    else:
        wanted = list(range(len(classes)))
    return [pr_curve(probs[:, i], y == i, classes[i]) for i in wanted if (y == i).any()]


def operating_point(predicted: np.ndarray, y: np.ndarray, positive: int) -> OperatingPoint:
    """Precision, recall and F1 of class ``positive`` for ``predicted`` class indices against labels ``y``."""
    flagged, actual = predicted == positive, y == positive
    tp = int((flagged & actual).sum())
    precision = tp / int(flagged.sum()) if flagged.any() else float("nan")
    recall = tp / int(actual.sum()) if actual.any() else float("nan")
    f1 = 2 * tp / (int(flagged.sum()) + int(actual.sum())) if flagged.any() or actual.any() else float("nan")
    return OperatingPoint(precision=precision, recall=recall, f1=f1, positives=int(actual.sum()),
                          flagged=int(flagged.sum()))


def choose_threshold(spec: ThresholdSpec, classes: tuple[str, ...], experiment: str, val: tuple[np.ndarray, np.ndarray],
                     test: tuple[np.ndarray, np.ndarray]) -> ThresholdChoice:
    """The threshold on the positive class's probability that meets ``spec`` on ``val`` ((N, 2) probabilities,
    labels) with the best other figure; ``test`` is scored at it for the record. Raises ValueError when
    ``classes`` do not fit ``spec`` (``ThresholdSpec.check_classes``)."""
    spec.check_classes(classes)
    positive = classes.index(spec.positive)
    (p_val, y_val), (p_test, y_test) = val, test
    threshold, note = _best_threshold(spec, p_val[:, positive], y_val == positive)

    def point(probs: np.ndarray, y: np.ndarray) -> OperatingPoint:
        predicted = probs.argmax(1) if threshold is None else labels_at_threshold(probs, positive, threshold)
        return operating_point(predicted, y, positive)

    def argmax(probs: np.ndarray, y: np.ndarray) -> OperatingPoint:
        return operating_point(probs.argmax(1), y, positive)

    return ThresholdChoice(experiment=experiment, positive=spec.positive, metric=spec.metric, at_least=spec.at_least,
                           threshold=threshold, val=point(p_val, y_val), test=point(p_test, y_test),
                           argmax_val=argmax(p_val, y_val), argmax_test=argmax(p_test, y_test), note=note)


def _best_threshold(spec: ThresholdSpec, scores: np.ndarray, is_positive: np.ndarray) -> tuple[float | None, str]:
    """The threshold and a sentence saying why, or None and a sentence saying why there is none."""
    target, other = spec.metric, "precision" if spec.metric == "recall" else "recall"
    wanted = f"{target} ≥ {spec.at_least:g} for {spec.positive}"
    if not is_positive.any():
        return None, (f"No decision threshold: the validation split has no sample of {spec.positive}, so {target} "
                      "cannot be measured; the model predicts the most probable class.")
    if is_positive.all():
        return None, (f"No decision threshold: every validation sample is {spec.positive}, so precision and recall "
                      "cannot tell thresholds apart; the model predicts the most probable class.")
    # Each distinct score, highest first, as a threshold: every sample scoring at least it is flagged.
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], is_positive[order]
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]  # the last sample of each distinct score
    tp = np.cumsum(hits)[last]
    flagged = last + 1
    figures = {"recall": tp / is_positive.sum(), "precision": tp / flagged}
    meets = figures[target] >= spec.at_least - 1e-12
    if not meets.any():
        best = int(np.argmax(figures[target]))
        return None, (f"No decision threshold: {wanted} is out of reach on the validation split (the best is "
                      f"{figures[target][best]:.3f}, at {other} {figures[other][best]:.3f}); the model predicts "
                      "the most probable class. Lower selection.threshold.at_least, or improve the model.")
    # The best other figure among those that meet the target; on a tie, the better target figure.
    ranked = np.lexsort((figures[target], figures[other], meets))
    k = int(ranked[-1])
    # Any threshold between this score and the next lower one flags the same validation samples: take the
    # midpoint, so a test sample scoring a hair under a validation sample's score is treated alike.
    below = sorted_scores[last[k] + 1] if k + 1 < len(last) else 0.0
    threshold = float((sorted_scores[last[k]] + below) / 2)
    return threshold, (f"Decision threshold {threshold:.3f} on p({spec.positive}): on the validation split it meets "
                       f"{wanted} ({target} {figures[target][k]:.3f}) with the highest {other} "
                       f"({figures[other][k]:.3f}).")


def caveats(choice: ThresholdChoice) -> tuple[str, ...]:
    """What a reader of the choice should know beyond its numbers: a threshold stricter than the most probable
    class, and a target the test split misses."""
    if choice.threshold is None:
        return ()
    out = []
    argmax_val = getattr(choice.argmax_val, choice.metric)
    if argmax_val >= choice.at_least:
        out.append(f"The most probable class already meets {choice.target} on validation ({argmax_val:.3f}); the "
                   f"threshold spends that margin on {'precision' if choice.metric == 'recall' else 'recall'}.")
    if choice.val.flagged < FEW_FLAGGED:
        many = choice.val.flagged != 1
        out.append(f"At this threshold only {choice.val.flagged} validation sample{'s are' if many else ' is'} "
                   f"flagged as {choice.positive}: too few for its {choice.metric} to say much about new data.")
    test = getattr(choice.test, choice.metric)
    if test < choice.at_least:
        out.append(f"On the test split the target is missed ({choice.metric} {test:.3f} < {choice.at_least:g}): the "
                   f"threshold sits at the target's edge on validation ({choice.val.positives:,} samples of "
                   f"{choice.positive}), and on new data {choice.metric} varies by chance around it.")
    return tuple(out)


def describe_threshold(choice: ThresholdChoice) -> tuple[str, ...]:
    """The choice for the terminal: why, precision and recall on each split against the most probable class,
    and the caveats."""
    def pr(p: OperatingPoint) -> str:
        return f"precision {p.precision:.3f}, recall {p.recall:.3f}"

    if choice.threshold is None:
        return (choice.note, f"{choice.positive}, most probable class: validation {pr(choice.val)}; "
                             f"test {pr(choice.test)}")
    return (choice.note, f"{choice.positive} at {choice.threshold:.3f}: validation {pr(choice.val)}, test "
                         f"{pr(choice.test)} (most probable class: validation {pr(choice.argmax_val)}, test "
                         f"{pr(choice.argmax_test)}); the test split is reported, never used to choose",
            *caveats(choice))
