"""Regression targets: reading them from files, resolving ``dataset.task``, and the quantile bins a
stratified split of a numeric target uses.

A regression ``Dataset`` holds ``y`` as float32, one finite number per sample, and no classes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from practica.data.records import Dataset
from practica.data.sources.labels import is_number
from practica.errors import DataError
from practica.tasks import get_task

MAX_BINS = 10  # quantile bins of the target a stratified split balances (deciles)
MIN_PER_BIN = 20  # fewer bins for small sets, so every bin has samples in every split
SKEW_WARNING = 1.0  # |skewness| past which the target's distribution is worth a warning


def regression_targets(raw: np.ndarray, what: str, n: int) -> np.ndarray:
    """``raw`` (a file's label array) as float32 targets, one finite number per sample, or a DataError."""
    y = np.asarray(raw)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what} has shape {y.shape}; regression targets are one number per sample, shape (N,).")
    if len(y) != n:
        raise DataError(f"{what} has {len(y)} targets for {n} samples; give one target per sample, in order.")
    if y.dtype.kind not in "iuf":
        raise DataError(
            f"{what} holds {y.dtype} values; dataset.task: regression needs numbers. Use task: classification "
            "for class labels."
        )
    y = y.astype(np.float32)
    if not np.isfinite(y).all():
        bad = int(np.flatnonzero(~np.isfinite(y))[0])
        raise DataError(f"{what} has a NaN or infinite target (sample {bad}); every target must be a finite number.")
    return y


def resolve_task(data: Dataset, task: str) -> Dataset:
    """``data`` as the task ``task`` ("auto", "classification", "regression") asks. A loader that read
    classes from numeric labels (JSON values, integer .npy labels) gives them back as numbers for regression."""
    if task in ("auto", data.task):
        return data
    if get_task(task).has_classes:
        raise DataError(
            f"{data.name} holds a numeric target (a regression set); dataset.task: classification needs classes. "
            "Use task: regression (or auto)."
        )
    try:
        values = np.array([float(c) for c in data.classes], dtype=np.float32)
    except ValueError:
        example = next(c for c in data.classes if not is_number(c))
        raise DataError(
            f"{data.name}: dataset.task is regression, but its labels are not all numbers (e.g. {example!r}); "
            "give numeric targets, or use task: classification."
        ) from None
    y = values[np.asarray(data.y, dtype=np.int64)] if len(values) else np.zeros(0, np.float32)
    return replace(data, y=y, classes=(), task="regression")


def target_bins(y: np.ndarray, n_bins: int | None = None) -> np.ndarray:
    """Each sample's quantile bin of the target (0..k-1, deciles at most, at least MIN_PER_BIN samples a bin):
    the classes a stratified split of a regression set balances, so every split spans the target's range."""
    y = np.asarray(y, dtype=np.float64)
    k = n_bins or int(np.clip(len(y) // MIN_PER_BIN, 1, MAX_BINS))
    if k < 2 or len(y) == 0:
        return np.zeros(len(y), dtype=np.int64)
    edges = np.unique(np.quantile(y, np.linspace(0, 1, k + 1)[1:-1]))
    bins = np.searchsorted(edges, y, side="right")
    return np.unique(bins, return_inverse=True)[1].astype(np.int64).reshape(-1)  # no empty bin


def as_strata(data: Dataset, n_bins: int | None = None) -> Dataset:
    """A regression set as a classification of its target's quantile bins (for splitting only)."""
    bins = target_bins(data.y, n_bins)
    k = int(bins.max()) + 1 if len(bins) else 1
    return replace(data, y=bins, classes=tuple(f"target bin {i + 1}" for i in range(k)), task="classification")


def describe_target(y: np.ndarray) -> dict:
    """min, max, mean, std, quantiles and skewness of a regression target."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) == 0:
        return {"n": 0}
    std = float(y.std())
    skew = float(np.mean(((y - y.mean()) / std) ** 3)) if std > 0 else 0.0
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    return {"n": int(len(y)), "min": float(y.min()), "max": float(y.max()), "mean": float(y.mean()), "std": std,
            "quantiles": {str(q): float(v) for q, v in zip(qs, np.quantile(y, qs), strict=True)}, "skew": skew}
