"""The decision threshold chosen on validation, and precision–recall curves: against brute force on
synthetic scores, and on the cases where no threshold can be chosen."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from practica.config.schema import ThresholdSpec
from practica.evaluation.thresholds import (
    caveats,
    choose_threshold,
    describe_threshold,
    operating_point,
    pr_curves,
)
from practica.tasks.classification import labels_at_threshold

CLASSES = ("malignant", "benign")  # the positive class first, as breast_cancer gives them


def scores(n: int = 300, seed: int = 0, separation: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) probabilities and labels; class 0 scores higher on column 0, with overlap."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p0 = np.clip(rng.normal(0.45, 0.18, n) + separation * (y == 0), 0.001, 0.999)
    return np.c_[p0, 1 - p0].astype(np.float32), y


def brute_force(spec: ThresholdSpec, probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The best other figure among every threshold (each distinct score) that meets the target, and that
    target figure: what choose_threshold must reach."""
    pos = CLASSES.index(spec.positive)
    other = "precision" if spec.metric == "recall" else "recall"
    best = (-1.0, -1.0)
    for t in np.unique(probs[:, pos]):
        point = operating_point(labels_at_threshold(probs, pos, float(t)), y, pos)
        if getattr(point, spec.metric) >= spec.at_least:
            best = max(best, (getattr(point, other), getattr(point, spec.metric)))
    return best


@pytest.mark.parametrize(("positive", "metric", "at_least"), [
    ("malignant", "recall", 0.95), ("malignant", "recall", 0.8), ("benign", "recall", 0.9),
    ("malignant", "precision", 0.9), ("benign", "precision", 0.85),
])
def test_the_threshold_meets_the_target_with_the_best_other_figure(positive, metric, at_least):
    spec = ThresholdSpec(positive=positive, metric=metric, at_least=at_least)
    val, test = scores(seed=1), scores(seed=2)
    choice = choose_threshold(spec, CLASSES, "m", val, test)
    assert choice.threshold is not None
    other = "precision" if metric == "recall" else "recall"
    assert getattr(choice.val, metric) >= at_least
    assert (getattr(choice.val, other), getattr(choice.val, metric)) == pytest.approx(brute_force(spec, *val))
    # the recorded figures are what the shared decision rule gives on each split
    pos = CLASSES.index(positive)
    for (probs, y), point in ((val, choice.val), (test, choice.test)):
        assert point == operating_point(labels_at_threshold(probs, pos, choice.threshold), y, pos)
    assert choice.argmax_test == operating_point(test[0].argmax(1), test[1], pos)


def test_the_threshold_sits_between_two_validation_scores():
    """Any value between the last flagged score and the next lower one flags the same validation samples:
    the midpoint is taken, so no validation sample sits exactly on it."""
    probs, y = scores(seed=3)
    choice = choose_threshold(ThresholdSpec(positive="malignant", metric="recall", at_least=0.9), CLASSES, "m",
                              (probs, y), (probs, y))
    s = np.sort(probs[:, 0])
    assert choice.threshold is not None and choice.threshold not in s
    above, below = s[s >= choice.threshold].min(), s[s < choice.threshold].max()
    assert choice.threshold == pytest.approx((above + below) / 2)


def test_an_unreachable_target_keeps_the_most_probable_class_and_says_so():
    probs, y = scores(seed=4, separation=-0.3)  # the wrong way round: precision never comes near 0.99
    assert y[np.argmax(probs[:, 0])] == 1  # even the top-scored sample is benign
    choice = choose_threshold(ThresholdSpec(positive="malignant", metric="precision", at_least=0.99), CLASSES, "m",
                              (probs, y), (probs, y))
    assert choice.threshold is None
    assert "out of reach on the validation split" in choice.note and "most probable class" in choice.note
    assert choice.val == choice.argmax_val and choice.test == choice.argmax_test
    assert describe_threshold(choice)[0] == choice.note and caveats(choice) == ()


@pytest.mark.parametrize(("labels", "message"), [
    (np.ones(20, dtype=int), "has no sample of malignant"),
    (np.zeros(20, dtype=int), "every validation sample is malignant"),
])
def test_a_validation_split_without_both_classes_gets_no_threshold(labels, message):
    probs = np.random.default_rng(0).dirichlet([1, 1], 20).astype(np.float32)
    choice = choose_threshold(ThresholdSpec(positive="malignant", metric="recall", at_least=0.9), CLASSES, "m",
                              (probs, labels), (probs, labels))
    assert choice.threshold is None and message in choice.note


def test_caveats_name_a_stricter_threshold_and_a_missed_test_target():
    # validation: argmax already meets the target; test: the threshold misses one positive of two
    val = (np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]], np.float32), np.array([0, 1, 0, 1]))
    test = (np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]], np.float32), np.array([0, 0, 1]))
    choice = choose_threshold(ThresholdSpec(positive="malignant", metric="recall", at_least=0.5), CLASSES, "m",
                              val, test)
    assert choice.threshold == pytest.approx(0.75)  # between 0.9 (flagged) and 0.6 (not): precision 1.0
    assert choice.test.recall == 0.5 and choice.argmax_test.recall == 1.0
    first, *_ = caveats(choice)
    assert "already meets recall ≥ 0.5 on validation" in first
    stricter = choice.model_copy(update={"at_least": 0.6})
    assert any("target is missed (recall 0.500 < 0.6)" in c for c in caveats(stricter))
    assert any("only 1 validation sample is flagged" in c for c in caveats(choice))


def test_operating_point_on_a_literal_case():
    p = operating_point(np.array([0, 0, 1, 1, 0]), np.array([0, 1, 1, 0, 0]), positive=0)
    assert (p.precision, p.recall, p.flagged, p.positives) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3, 3)
    nothing = operating_point(np.array([1, 1]), np.array([0, 1]), positive=0)
    assert math.isnan(nothing.precision) and nothing.recall == 0.0


def test_pr_curves_one_per_class_or_the_positive_one():
    rng = np.random.default_rng(0)
    probs, y = rng.dirichlet([1, 1, 1], 90).astype(np.float32), np.repeat([0, 1, 2], 30)
    curves = pr_curves(probs, y, ("a", "b", "c"))
    assert [c.label for c in curves] == ["a", "b", "c"]
    assert curves[1].average_precision == pytest.approx(average_precision_score(y == 1, probs[:, 1]))
    assert [c.label for c in pr_curves(probs, np.repeat([0, 2, 2], 30), ("a", "b", "c"))] == ["a", "c"]  # b absent
    two, labels = scores(seed=5)
    rarer = CLASSES[int(np.argmin(np.bincount(labels)))]
    assert [c.label for c in pr_curves(two, labels, CLASSES)] == [rarer]
    assert [c.label for c in pr_curves(two, labels, CLASSES, positive="benign")] == ["benign"]


def test_a_threshold_needs_two_classes_and_a_known_positive():
    spec = ThresholdSpec(positive="malignant", metric="recall", at_least=0.9)
    probs, y = scores()
    with pytest.raises(ValueError, match="applies to two classes, but the data has 3"):
        choose_threshold(spec, ("a", "b", "c"), "m", (probs, y), (probs, y))
    with pytest.raises(ValueError, match="'malignant' is not a class of the data; its classes are 'yes' and 'no'"):
        choose_threshold(spec, ("yes", "no"), "m", (probs, y), (probs, y))
