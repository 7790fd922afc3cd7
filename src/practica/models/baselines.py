"""Classic scikit-learn baselines, run through the same experiment interface as the networks.

Images are flattened and scaled to [0, 1]; every baseline is seeded where it has randomness.
For regression, k-NN, the trees and the forest are their scikit-learn Regressor twins; linear and
ridge regression are regression's own (logistic regression and naive Bayes are classification's).
"""

from __future__ import annotations

import inspect
import pickle
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.class_weight import compute_sample_weight

# Defaults a practitioner would pick for a first baseline; a suite's `params` override them.
_DEFAULTS: dict[str, tuple[type[BaseEstimator], dict[str, Any]]] = {
    "logistic_regression": (LogisticRegression, {"max_iter": 200, "C": 1.0}),
    "knn": (KNeighborsClassifier, {"n_neighbors": 5}),
    "naive_bayes": (GaussianNB, {}),
    "decision_tree": (DecisionTreeClassifier, {}),
    "random_forest": (RandomForestClassifier, {"n_estimators": 100, "n_jobs": -1}),
}
_REGRESSORS: dict[str, tuple[type[BaseEstimator], dict[str, Any]]] = {
    "linear_regression": (LinearRegression, {}),
    "ridge": (Ridge, {"alpha": 1.0}),
    "knn": (KNeighborsRegressor, {"n_neighbors": 5}),
    "decision_tree": (DecisionTreeRegressor, {}),
    "random_forest": (RandomForestRegressor, {"n_estimators": 100, "n_jobs": -1}),
}
_SCALED = ("logistic_regression", "ridge")  # penalised linear models: standardised inputs


_TABLES = {"classification": _DEFAULTS, "regression": _REGRESSORS}  # by task name


def _table(task: str) -> dict[str, tuple[type[BaseEstimator], dict[str, Any]]]:
    return _TABLES[task]


def estimator_class(name: str, task: str = "classification") -> type[BaseEstimator]:
    """The estimator ``name`` stands for in ``task``; a name that exists for the other task only raises."""
    table = _table(task)
    if name not in table:
        fits = ", ".join(table)
        raise ValueError(f"sklearn '{name}' does not apply to {task}; use one of {fits}")
    return table[name][0]


def estimator_classes(name: str) -> tuple[type[BaseEstimator], ...]:
    """Every estimator ``name`` may stand for (classifier and regressor), for checking params before the
    task is known."""
    return tuple(t[name][0] for t in (_DEFAULTS, _REGRESSORS) if name in t)


def make_baseline(
    name: str, params: dict[str, Any], seed: int, class_weight: str | None = None, task: str = "classification"
) -> BaseEstimator:
    estimator_class(name, task)  # a clear error for a name of the other task
    cls, defaults = _table(task)[name]
    kwargs = {**defaults, **params}
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", seed)
    if class_weight is not None and "class_weight" in cls().get_params():
        kwargs.setdefault("class_weight", class_weight)  # the suite's params win
    est = cls(**kwargs)
    # Linear models converge far faster on standardised inputs.
    return make_pipeline(StandardScaler(), est) if name in _SCALED else est


def balancing(name: str, class_weight: str | None) -> str:
    """How ``class_weight: balanced`` reaches baseline ``name``: through its ``class_weight``, through
    balanced ``sample_weight`` in ``fit`` (naive Bayes), or not at all (k-NN takes no weights)."""
    if class_weight is None or name not in _DEFAULTS:
        return "none"
    cls = _DEFAULTS[name][0]
    if "class_weight" in cls().get_params():
        return "class_weight"
    if "sample_weight" in inspect.signature(cls.fit).parameters:
        return "sample_weight"
    return "none"


@dataclass(frozen=True)
class BaselineFit:
    """A fitted baseline, and what its user should know about the fit (one readable line each)."""

    estimator: BaseEstimator
    notes: tuple[str, ...] = ()


def fit_baseline(
    name: str, est: BaseEstimator, x: np.ndarray, y: np.ndarray, class_weight: str | None,
) -> BaselineFit:
    """Fit ``est`` (from ``make_baseline``) on samples ``x`` (images or features), balanced if asked.

    scikit-learn's ``ConvergenceWarning`` (several lines on stderr, naming the solver, not the suite) is
    caught and becomes one note that names the setting to change."""
    kwargs = {}
    if balancing(name, class_weight) == "sample_weight":
        kwargs["sample_weight"] = compute_sample_weight(class_weight, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est.fit(as_features(x), y, **kwargs)
    others = [w for w in caught if not issubclass(w.category, ConvergenceWarning)]
    for w in others:  # not ours to reword: shown as they would have been
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    converged = len(others) == len(caught)
    return BaselineFit(est, () if converged else (convergence_note(name, est),))


def convergence_note(name: str, est: BaseEstimator) -> str:
    """``logistic regression did not converge in 200 iterations; raise model.params.max_iter (e.g. to 400)``."""
    label = name.replace("_", " ")
    limit = next((v for k, v in est.get_params().items() if k.split("__")[-1] == "max_iter"), None)
    if not isinstance(limit, int):
        return f"{label} did not converge; its scores may improve with more iterations or scaled features"
    return f"{label} did not converge in {limit} iterations; raise model.params.max_iter (e.g. to {2 * limit})"


def as_features(x: np.ndarray) -> np.ndarray:
    """Images N×H×W×C uint8 → N×(H·W·C) float32 in [0, 1]; feature tables pass through."""
    if x.ndim == 4:
        return x.reshape(len(x), -1).astype(np.float32) / 255.0
    return x.astype(np.float32, copy=False)


def count_params(est: BaseEstimator) -> int:
    """Learned numbers in the fitted estimator: what it must store to predict."""
    final = est.steps[-1][1] if hasattr(est, "steps") else est
    if hasattr(final, "coef_"):
        return int(final.coef_.size + np.size(final.intercept_))
    if hasattr(final, "theta_"):
        return int(final.theta_.size + final.var_.size + final.class_prior_.size)
    if hasattr(final, "tree_"):
        return int(final.tree_.node_count * 3)  # feature, threshold and value per node
    if hasattr(final, "estimators_"):
        return int(sum(t.tree_.node_count * 3 for t in final.estimators_))
    if hasattr(final, "_fit_X"):
        return int(final._fit_X.size)
    return 0


def size_bytes(est: BaseEstimator) -> int:
    """Bytes of the serialised estimator (measured only; practica never loads a pickle)."""
    return len(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))
