"""Regression baselines: the Regressor twins, linear and ridge regression, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from practica.evaluation.metrics import regression_metrics
from practica.evaluation.predictors import SklearnPredictor
from practica.models import baselines


def linear(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x @ np.array([3.0, -2.0, 0.5, 1.0]) + 7.0 + 0.05 * rng.normal(size=n)).astype(np.float32)


@pytest.mark.parametrize("name", ["linear_regression", "ridge", "knn", "decision_tree", "random_forest"])
def test_every_regression_baseline_fits_and_predicts_values(name):
    x, y = linear(300, 0)
    xv, yv = linear(100, 1)
    est = baselines.make_baseline(name, {}, seed=0, task="regression")
    baselines.fit_baseline(name, est, x, y, None)
    predictor = SklearnPredictor(est, 0)
    assert predictor.task == "regression" and predictor.outputs(xv).shape == (100, 1)
    r2 = regression_metrics(predictor.outputs(xv), yv).regression.r2
    assert r2 > (0.99 if name in ("linear_regression", "ridge") else 0.5)
    assert predictor.params > 0
    with pytest.raises(ValueError, match="use outputs"):
        predictor.predict_proba(xv)


def test_linear_regression_recovers_the_known_answer():
    x, y = linear(500, 0)
    est = baselines.make_baseline("linear_regression", {}, seed=0, task="regression")
    baselines.fit_baseline("linear_regression", est, x, y, None)
    assert np.allclose(est.coef_, [3.0, -2.0, 0.5, 1.0], atol=0.02) and est.intercept_ == pytest.approx(7.0, abs=0.02)


@pytest.mark.parametrize(("name", "task", "fits"), [
    ("logistic_regression", "regression", "linear_regression"),
    ("naive_bayes", "regression", "ridge"),
    ("linear_regression", "classification", "logistic_regression"),
    ("ridge", "classification", "naive_bayes"),
])
def test_a_baseline_of_the_other_task_is_refused(name, task, fits):
    with pytest.raises(ValueError, match=f"sklearn '{name}' does not apply to {task}; use one of .*{fits}"):
        baselines.make_baseline(name, {}, seed=0, task=task)
