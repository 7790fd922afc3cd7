"""What to try next for a model fitted without epochs, by the kind of model it is.

A verdict's cure depends on the model: a random forest is already an average of many trees, and a
logistic regression has no depth to limit. ``fit_advice`` picks the sentence for the estimator's
family (the suite's ``model.sklearn`` name); an estimator it does not know gets advice that names
each family's knob.
"""

from __future__ import annotations

from typing import Literal

Family = Literal["forest", "tree", "linear", "neighbours", "bayes", "other"]
Problem = Literal["overfitting", "underfitting"]
Task = Literal["classification", "regression"]

FAMILIES: dict[str, Family] = {
    "random_forest": "forest", "extra_trees": "forest", "gradient_boosting": "forest",
    "hist_gradient_boosting": "forest", "decision_tree": "tree",
    "logistic_regression": "linear", "linear_regression": "linear", "ridge": "linear", "lasso": "linear",
    "linear_svm": "linear", "knn": "neighbours", "naive_bayes": "bayes",
}


def family(estimator: str | None) -> Family:
    """The family of a ``model.sklearn`` name; "other" for none or an unknown one."""
    return FAMILIES.get(estimator or "", "other")


def _regularize(task: Task) -> str:
    return "higher alpha" if task == "regression" else "lower C"


def _weaken(task: Task) -> str:
    return "lower alpha" if task == "regression" else "higher C"


def fit_advice(problem: Problem, estimator: str | None, task: Task = "classification") -> str:
    """The advice for ``problem`` in a fitted ``estimator`` (a ``model.sklearn`` name, or None)."""
    kind = family(estimator)
    if problem == "overfitting":
        return {
            "forest": "a forest fits its training set closely by design; to narrow the gap, limit the trees "
                      "(max_depth, or a larger min_samples_leaf), draw fewer features per split (max_features), "
                      "or add data",
            "tree": "limit the tree (max_depth, or a larger min_samples_leaf), or average many trees "
                    "(random_forest), or add data",
            "linear": f"stronger regularization ({_regularize(task)}), fewer or less noisy features, or more data",
            "neighbours": "more neighbours (a larger n_neighbors), standardised or fewer features, or more data",
            "bayes": "fewer, less redundant features, or more data",
            "other": "constrain the model (for trees: max_depth or min_samples_leaf; for linear models: "
                     f"{_regularize(task)}; for k-NN: more neighbours), or more data",
        }[kind]
    more = "a tree ensemble (random_forest) or a neural network"
    return {
        "forest": "deeper trees (no max_depth, a smaller min_samples_leaf), more trees, or richer features",
        "tree": "a deeper tree (a larger max_depth), or many trees averaged (random_forest), or richer features",
        "linear": f"a more expressive model ({more}), richer features (interactions, transforms of skewed "
                  f"inputs), or weaker regularization ({_weaken(task)})",
        "neighbours": f"fewer neighbours (a smaller n_neighbors), standardised or better features, or {more}",
        "bayes": f"a model that does not assume independent features: {more}",
        "other": f"a more expressive model ({more}), richer features, or weaker regularization",
    }[kind]
