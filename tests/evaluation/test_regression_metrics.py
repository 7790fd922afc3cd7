"""MSE, RMSE, MAE, R² and the residuals, on values whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from practica.evaluation.metrics import PLOT_POINTS, regression_metrics
from practica.evaluation.records import SplitMetrics


def test_known_values():
    m = regression_metrics(np.array([1.0, 2.0, 5.0]), np.array([1.0, 3.0, 3.0]))
    r = m.regression
    assert r.mse == pytest.approx(5 / 3) and r.rmse == pytest.approx(math.sqrt(5 / 3))
    assert r.mae == pytest.approx(1.0) and r.max_abs_error == pytest.approx(2.0)
    assert r.residual_mean == pytest.approx(1 / 3)
    assert r.r2 == pytest.approx(1 - (5 / 3) / np.var([1.0, 3.0, 3.0]))
    assert m.loss == r.mse and m.figures is r and m.task == "regression"
    with pytest.raises(ValueError, match="no accuracy"):
        _ = m.classification


def test_predicting_the_mean_scores_r2_zero_and_perfect_scores_one():
    y = np.arange(10.0)
    assert regression_metrics(np.full(10, y.mean()), y).regression.r2 == pytest.approx(0.0)
    assert regression_metrics(y, y).regression.r2 == pytest.approx(1.0)


def test_points_for_the_report_are_capped_and_metrics_round_trip():
    y = np.linspace(0, 1, 5000)
    m = regression_metrics(y + 0.1, y)
    assert len(m.regression.actual) == PLOT_POINTS == len(m.regression.predicted)
    assert SplitMetrics.model_validate_json(m.model_dump_json()) == m
