"""The regression reading: each verdict from a history built to show it, in R² with its evidence."""

from __future__ import annotations

import math

import pytest

from practica.diagnosis.regression import (
    RegressionContext,
    diagnose_regression,
    diagnose_regression_fit,
)
from practica.training.history import EpochRecord, History

NAN = math.nan


def run(train_loss, val_loss, val_r2, *, stop="completed", best=None) -> History:
    records = tuple(
        EpochRecord(e, t, v, 1e-3, 1.0, {"train_r2": 1 - t, "val_r2": r, "val_mae": 10.0})
        for e, (t, v, r) in enumerate(zip(train_loss, val_loss, val_r2, strict=True), 1)
    )
    return History(records, stop_reason=stop, best_epoch=best or len(records), max_epochs=len(records))


def test_a_model_no_better_than_the_mean_never_learned():
    n = 10
    d = diagnose_regression(run([1.0] * n, [1.01] * n, [0.0] * n), RegressionContext(0.5, "ridge"))
    assert d.verdict == "underfitting"
    assert "no better than predicting the training mean" in d.findings[0].evidence
    assert "never learned (val R² at most 0.000" in d.summary


def test_val_loss_rising_while_train_falls_is_overfitting():
    train = [0.9, 0.6, 0.45, 0.35, 0.28, 0.22, 0.17, 0.13, 0.10, 0.08]
    val = [0.9, 0.62, 0.5, 0.48, 0.5, 0.55, 0.6, 0.66, 0.7, 0.75]
    r2 = [1 - v for v in val]
    d = diagnose_regression(run(train, val, r2, best=4), RegressionContext(0.55, "mlp"))
    assert d.verdict == "overfitting"
    assert "val loss lowest" in d.findings[0].evidence and "train loss fell" in d.findings[0].evidence
    assert "val R²" in d.findings[0].evidence


def test_far_below_the_suites_best_is_underfitting_with_the_shortfall():
    n = 12
    d = diagnose_regression(run([0.8] * n, [0.8] * n, [0.2] * n), RegressionContext(0.6, "forest, the suite's best"))
    assert d.verdict == "underfitting"
    assert "0.400 short" in d.findings[0].evidence
    assert "forest, the suite's best, reaches val R² 0.600" in d.findings[0].evidence


def test_a_good_steady_run_is_healthy_with_its_numbers():
    train = [0.9, 0.6, 0.5, 0.45, 0.44, 0.43, 0.43, 0.425]
    val = [0.9, 0.62, 0.52, 0.47, 0.455, 0.45, 0.452, 0.449]
    d = diagnose_regression(run(train, val, [1 - v for v in val]), RegressionContext(0.55, "itself"))
    assert d.verdict == "healthy"
    assert any("best val loss" in f and "val R²" in f for f in d.facts)


def test_a_loss_far_above_that_of_the_mean_is_diverged():
    d = diagnose_regression(run([1.0, 4.0, 9.0], [1.0, 5.0, 12.0], [0.0, -4.0, -11.0]), RegressionContext())
    assert d.verdict == "diverged" and "predicting the training mean" in d.findings[0].evidence


def test_r2_still_climbing_when_the_budget_ran_out_is_undertrained():
    val_r2 = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
    d = diagnose_regression(run([1 - r for r in val_r2], [1 - r for r in val_r2], val_r2), RegressionContext(0.45, "x"))
    assert d.verdict == "undertrained" and "still rising" in d.findings[0].evidence


@pytest.mark.parametrize(("train", "val", "verdict", "words"), [
    (1.0, 0.2, "overfitting", "fits the training set far better"),
    (0.02, -0.01, "underfitting", "no better than the training mean"),
    (0.5, 0.45, "healthy", "no sign of overfitting"),
])
def test_fitted_regressors(train, val, verdict, words):
    d = diagnose_regression_fit(train, val, RegressionContext(0.5, "ridge"), model_name="tree")
    assert d.verdict == verdict and words in d.findings[0].evidence
