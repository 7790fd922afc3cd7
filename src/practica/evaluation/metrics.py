"""Quality on one split: loss, accuracy, per-class precision/recall/F1, confusion, calibration; for a
regression, MSE, RMSE, MAE, R² and the residuals."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from practica.evaluation.records import ClassificationMetrics, ClassMetrics, RegressionMetrics, SplitMetrics
from practica.tasks import get_task

ECE_BINS = 15  # the common choice since Guo et al. (2017), so figures compare with the literature
PLOT_POINTS = 1000  # (actual, predicted) pairs kept per split for the report's scatter


def split_metrics(proba: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> SplitMetrics:
    proba = np.nan_to_num(np.asarray(proba, dtype=np.float64), nan=1.0 / len(classes))
    labels = np.arange(len(classes))
    pred = proba.argmax(1)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    eps = 1e-12
    loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], eps, 1.0))))
    figures = ClassificationMetrics(
        accuracy=float((pred == y).mean()),
        macro_f1=float(np.mean(f)),
        ece=expected_calibration_error(proba, y),
        per_class=tuple(
            ClassMetrics(name=name, precision=float(pi), recall=float(ri), f1=float(fi), support=int(si))
            for name, pi, ri, fi, si in zip(classes, p, r, f, s, strict=True)
        ),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion_matrix(y, pred, labels=labels)),
    )
    return SplitMetrics(loss=loss, n=int(len(y)), figures=figures)


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |accuracy − confidence| over equal-width confidence bins."""
    conf = proba.max(1)
    correct = proba.argmax(1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def regression_metrics(values: np.ndarray, y: np.ndarray) -> SplitMetrics:
    """A regression's quality on one split from its predicted ``values`` and targets ``y`` (both (N,)).

    >>> m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    >>> round(m.regression.r2, 3), round(m.regression.mae, 3)
    (0.786, 0.333)
    """
    pred = np.asarray(values, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    nan = float("nan")
    if len(y) == 0:
        reg = RegressionMetrics(mse=nan, rmse=nan, mae=nan, r2=nan, residual_mean=nan, residual_std=nan,
                                max_abs_error=nan, target_std=nan)
        return SplitMetrics(loss=nan, n=0, figures=reg)
    residual = pred - y
    mse = float(np.mean(residual**2)) if np.isfinite(pred).all() else nan
    variance = float(np.var(y))
    shown = np.unique(np.linspace(0, len(y) - 1, min(len(y), PLOT_POINTS)).round().astype(int))
    reg = RegressionMetrics(
        mse=mse,
        rmse=float(np.sqrt(mse)),
        mae=float(np.mean(np.abs(residual))),
        r2=1.0 - mse / variance if variance > 0 else nan,
        residual_mean=float(residual.mean()),
        residual_std=float(residual.std()),
        max_abs_error=float(np.abs(residual).max()),
        target_std=float(np.sqrt(variance)),
        actual=tuple(float(v) for v in y[shown]),
        predicted=tuple(float(v) for v in pred[shown]),
    )
    return SplitMetrics(loss=mse, n=int(len(y)), figures=reg)


def score(predictor, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> SplitMetrics:
    """``split_metrics`` of a classifier's probabilities, or ``regression_metrics`` of a regressor's values."""
    return score_outputs(predictor.outputs(x), y, classes, predictor.task)


def score_outputs(outputs: np.ndarray, y: np.ndarray, classes: tuple[str, ...], task: str) -> SplitMetrics:
    """The metrics of outputs already computed (``Predictor.outputs``): probabilities, or (N, 1) values."""
    if get_task(task).has_classes:
        return split_metrics(outputs, y, classes)
    return regression_metrics(outputs, y)
