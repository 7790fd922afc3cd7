"""Quality on one split: loss, accuracy, per-class precision/recall/F1, confusion, calibration."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from practica.evaluation.records import ClassMetrics, SplitMetrics

ECE_BINS = 15  # the common choice since Guo et al. (2017), so figures compare with the literature


def split_metrics(proba: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> SplitMetrics:
    proba = np.nan_to_num(np.asarray(proba, dtype=np.float64), nan=1.0 / len(classes))
    labels = np.arange(len(classes))
    pred = proba.argmax(1)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    eps = 1e-12
    loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], eps, 1.0))))
    return SplitMetrics(
        loss=loss,
        accuracy=float((pred == y).mean()),
        macro_f1=float(np.mean(f)),
        ece=expected_calibration_error(proba, y),
        per_class=tuple(
            ClassMetrics(name, float(pi), float(ri), float(fi), int(si))
            for name, pi, ri, fi, si in zip(classes, p, r, f, s)
        ),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion_matrix(y, pred, labels=labels)),
        n=int(len(y)),
    )


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
