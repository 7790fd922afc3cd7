"""The comparison of two bundles on the same samples, and the promotion rule over it."""

from __future__ import annotations

import numpy as np
import pytest

from practica.evaluation.intervals import Bootstrap
from practica.evaluation.records import Interval
from practica.retrain.compare import ClassChange, Comparison, compare
from practica.retrain.config import PromotionRule
from practica.retrain.gates import promotion_verdict


class FakeBundle:
    """What compare reads of a bundle: its classes, probabilities and decision."""

    def __init__(self, classes: tuple[str, ...], answers: np.ndarray) -> None:
        self.classes = classes
        self.answers = answers

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.eye(len(self.classes))[self.answers] * 0.9 + 0.1 / len(self.classes)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        return proba.argmax(1)


def test_compare_pairs_the_answers_and_aligns_the_classes():
    y = np.array([0, 0, 1, 1, 2, 2] * 20)
    classes = ("a", "b", "c")
    challenger = FakeBundle(classes, y.copy())  # every answer right
    wrong = y.copy()
    wrong[y == 2] = 0  # production misses class c
    # production lists its classes in another order: its column 0 is 'c'
    production = FakeBundle(("c", "a", "b"), np.array([("c", "a", "b").index(classes[k]) for k in wrong]))
    result = compare(challenger, production, np.zeros((len(y), 1)), y, classes, "val_accuracy", Bootstrap(200))
    assert result.challenger == 1.0 and result.production == pytest.approx(2 / 3)
    assert result.gain == pytest.approx(1 / 3) and result.gain_interval.low > 0
    assert result.mcnemar_p < 1e-6
    per_class = {c.name: c for c in result.classes}
    assert per_class["c"].production == 0.0 and per_class["c"].challenger == 1.0
    assert per_class["a"].change == 0.0


def _comparison(gain: float, changes: dict[str, float], low: float = -0.01) -> Comparison:
    return Comparison(
        metric="val_accuracy", samples=300, production=0.9, challenger=0.9 + gain,
        production_interval=Interval(low=0.87, high=0.93), challenger_interval=Interval(low=0.87, high=0.93),
        gain=gain, gain_interval=Interval(low=low, high=gain + 0.02), mcnemar_p=0.2,
        production_accuracy=0.9, challenger_accuracy=0.9 + gain,
        classes=tuple(ClassChange(name, 30, 0.9, 0.9 + d) for name, d in changes.items()))


@pytest.mark.parametrize(("gain", "changes", "rule", "promoted", "because"), [
    (0.02, {"a": 0.01, "b": -0.01}, {}, True, "promoted: the challenger's test accuracy"),
    (0.002, {"a": 0.0}, {}, False, "under promotion.min_gain 0.5 points"),
    (0.03, {"a": 0.05, "b": -0.04}, {}, False, "1 class regress past promotion.max_class_regression 2.0 points ('b'"),
    (-0.01, {"a": 0.0}, {"min_gain": -0.02}, True, "promoted"),
    (0.02, {"a": 0.0}, {"require_significance": True}, False, "does not lie above 0"),
])
def test_the_rule(gain, changes, rule, promoted, because):
    verdict = promotion_verdict(_comparison(gain, changes), PromotionRule(**rule), "test accuracy", share=True)
    assert verdict.passed is promoted
    assert because in verdict.message
