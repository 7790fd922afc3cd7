"""Validation intervals: a paired bootstrap that agrees with the metrics, covers as it claims, and tells
a real difference from noise; McNemar's exact test."""

from __future__ import annotations

import time

import numpy as np
import pytest

from practica.evaluation.intervals import Bootstrap, bootstrap, difference_text, mcnemar
from practica.evaluation.metrics import score_outputs
from practica.evaluation.records import Interval
from practica.tasks import get_task


def classifier_outputs(rng, y, classes, accuracy):
    """Probabilities that put the most on the true class for about ``accuracy`` of the samples."""
    logits = rng.normal(size=(len(y), classes))
    right = rng.random(len(y)) < accuracy
    wrong_class = (y + rng.integers(1, classes, len(y))) % classes
    logits[np.arange(len(y)), np.where(right, y, wrong_class)] += 4
    e = np.exp(logits)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_metric_on_the_whole_sample_is_the_metrics_own_value(task):
    rng = np.random.default_rng(0)
    t = get_task(task)
    if t.has_classes:
        y = rng.integers(0, 4, 300)
        out = classifier_outputs(rng, y, 4, 0.7)
    else:
        y = rng.normal(3, 2, 300)
        out = (y + rng.normal(0, 1, 300))[:, None].astype(np.float32)
    boot = bootstrap({"m": out}, y, task, t.metric_names, Bootstrap(resamples=200))
    scored = score_outputs(out, y, ("a", "b", "c", "d"), task)
    assert set(boot.values) == set(t.metric_names)
    for m in t.metrics:
        assert boot.point(m.name, "m") == pytest.approx(m.value(scored), rel=1e-6)
        ci = boot.interval(m.name, "m")
        assert ci.low <= m.value(scored) <= ci.high


def test_the_accuracy_interval_covers_the_true_rate_about_as_often_as_it_claims():
    rng = np.random.default_rng(1)
    p, n, trials = 0.8, 200, 300
    y = np.zeros(n, dtype=np.int64)
    covered = 0
    for seed in range(trials):
        right = rng.random(n) < p
        proba = np.where(right[:, None], [[0.9, 0.1]], [[0.1, 0.9]])
        ci = bootstrap({"m": proba}, y, "classification", ("val_accuracy",),
                       Bootstrap(resamples=500, seed=seed)).interval("val_accuracy", "m")
        covered += ci.contains(p)
    assert 0.90 <= covered / trials <= 0.98  # nominal 95%; percentile intervals run slightly narrow


def test_identical_models_tie_exactly():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 270)
    out = classifier_outputs(rng, y, 3, 0.9)
    boot = bootstrap({"a": out, "b": out.copy()}, y, "classification", ("val_accuracy",), Bootstrap())
    d = boot.difference("val_accuracy", "a", "b")
    assert d.low == d.high == 0.0 and d.contains(0.0)
    right = out.argmax(1) == y
    assert mcnemar(right, right) == 1.0


def test_a_clearly_better_model_has_a_difference_interval_clear_of_zero():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 500)
    good, poor = classifier_outputs(rng, y, 3, 0.95), classifier_outputs(rng, y, 3, 0.80)
    boot = bootstrap({"good": good, "poor": poor}, y, "classification", ("val_accuracy", "val_loss"), Bootstrap())
    assert boot.difference("val_accuracy", "good", "poor").low > 0
    assert boot.difference("val_loss", "good", "poor").high < 0
    assert mcnemar(good.argmax(1) == y, poor.argmax(1) == y) < 0.001


def test_the_same_seed_gives_the_same_intervals_and_pairs_every_model():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 100)
    outs = {"a": classifier_outputs(rng, y, 2, 0.8), "b": classifier_outputs(rng, y, 2, 0.8)}
    one = bootstrap(outs, y, "classification", ("val_accuracy",), Bootstrap(resamples=300, seed=7))
    two = bootstrap(outs, y, "classification", ("val_accuracy",), Bootstrap(resamples=300, seed=7))
    assert one.interval("val_accuracy", "a") == two.interval("val_accuracy", "a")
    assert np.array_equal(one.values["val_accuracy"]["b"], two.values["val_accuracy"]["b"])


def test_mcnemar_counts_only_the_disagreements():
    a = np.array([True] * 60 + [True] * 7 + [False] * 3 + [False] * 30)
    b = np.array([True] * 60 + [False] * 7 + [True] * 3 + [False] * 30)
    # 7 against 3: two-sided exact binomial, p = 2 * P(X <= 3 | 10, 0.5) = 0.34375
    assert mcnemar(a, b) == pytest.approx(0.34375)


def test_outputs_that_do_not_pair_with_the_labels_are_refused():
    with pytest.raises(ValueError, match="must pair up"):
        bootstrap({"m": np.ones((5, 2)) / 2}, np.zeros(6, dtype=int), "classification", ("val_accuracy",),
                  Bootstrap())


def test_ten_models_on_five_thousand_samples_take_a_moment():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 10, 5000)
    outs = {f"m{i}": classifier_outputs(rng, y, 10, 0.9) for i in range(10)}
    start = time.perf_counter()
    bootstrap(outs, y, "classification", get_task("classification").metric_names, Bootstrap())
    assert time.perf_counter() - start < 4.0  # about 1 s on 2 shared cores


def test_texts_give_the_interval_in_the_metrics_units():
    acc = get_task("classification").metric("val_accuracy")
    assert acc.show_with(0.985, Interval(low=0.974, high=0.993)) == "98.5% (97.4–99.3)"
    assert acc.show_with(0.985, None) == "98.5%"
    r2 = get_task("regression").metric("val_r2")
    assert r2.show_with(0.912, Interval(low=0.887, high=0.931)) == "0.912 (0.887–0.931)"
    text = difference_text(acc, -0.004, Interval(low=-0.011, high=0.004), 0.51)
    assert text == "difference −0.4 points (95% CI −1.1 to +0.4 points; McNemar p = 0.51)"


def test_accuracy_intervals_stay_honest_at_a_perfect_score():
    y = np.arange(69) % 3
    perfect = np.eye(3, dtype=np.float32)[y]
    resampled = bootstrap({"a": perfect}, y, "classification", ["val_accuracy"], Bootstrap())
    interval = resampled.interval("val_accuracy", "a")
    assert interval.high == 1.0 and 0.94 < interval.low < 0.96  # Wilson: 94.7–100%, not 100–100%
