"""Classic scikit-learn baselines, run through the same experiment interface as the networks.

Images are flattened and scaled to [0, 1]; every baseline is seeded where it has randomness.
For regression, k-NN, the trees and the forest are their scikit-learn Regressor twins; linear and
ridge regression are regression's own (logistic regression and naive Bayes are classification's).

Texts: the pipeline starts with ``TokenCounts``, which fits the tokenizer on the texts it is fitted on
(so a cross-validation fold's tokenizer sees that fold's training texts only) and gives sparse token
counts. Naive Bayes is then multinomial naive Bayes on the counts themselves (the model of counts it is
built on; Gaussian naive Bayes, the images' and tables', assumes dense normal features). Every other
baseline reads the counts through sublinear tf-idf (1 + log tf, rows of unit length): the classic
TF-IDF + logistic regression, no standardisation (its rows are already on one scale, and scaling would
densify them).
"""

from __future__ import annotations

import inspect
import pickle
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB, MultinomialNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.class_weight import compute_sample_weight

from practica.config.schema import TokenizerSpec
from practica.data.tokenizer import PAD, TextTokenizer
from practica.errors import ModelError

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
# On texts: naive Bayes reads token counts (multinomial); the others keep their class (over tf-idf).
_TEXT_CLASSES: dict[str, type[BaseEstimator]] = {"naive_bayes": MultinomialNB}


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
    """Every estimator ``name`` may stand for (classifier and regressor, and on texts), for checking params
    before the task and the data's kind are known."""
    return tuple(t[name][0] for t in (_DEFAULTS, _REGRESSORS) if name in t) + (
        (_TEXT_CLASSES[name],) if name in _TEXT_CLASSES else ())


def make_baseline(
    name: str, params: dict[str, Any], seed: int, class_weight: str | None = None, task: str = "classification",
    *, tokens: TokenizerSpec | None = None,
) -> BaseEstimator:
    """The unfitted baseline ``name``. ``tokens``: the data are texts, tokenised as this spec says (the
    experiment's ``model.tokenizer``, or the default): a ``TokenCounts`` pipeline (see the module's doc)."""
    estimator_class(name, task)  # a clear error for a name of the other task
    cls, defaults = _table(task)[name]
    if tokens is not None:
        return _text_baseline(name, params, seed, class_weight, task, tokens)
    kwargs = {**defaults, **params}
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", seed)
    if class_weight is not None and "class_weight" in cls().get_params():
        kwargs.setdefault("class_weight", class_weight)  # the suite's params win
    est = cls(**kwargs)
    # Linear models converge far faster on standardised inputs.
    return make_pipeline(StandardScaler(), est) if name in _SCALED else est


def _text_baseline(name: str, params: dict[str, Any], seed: int, class_weight: str | None, task: str,
                   tokens: TokenizerSpec) -> Pipeline:
    if task != "classification":
        raise ModelError(f"sklearn '{name}' on text: text data supports classification only; give the texts "
                         "class labels")
    cls = _TEXT_CLASSES.get(name, _DEFAULTS[name][0])
    defaults = {} if name in _TEXT_CLASSES else _DEFAULTS[name][1]
    accepted = cls().get_params()
    wrong = [k for k in params if k not in accepted]
    if wrong:
        raise ModelError(f"params.{wrong[0]} is not an option of sklearn '{name}' on text ({cls.__name__}); "
                         f"accepted: {', '.join(sorted(accepted))}")
    kwargs = {**defaults, **params}
    if "random_state" in accepted:
        kwargs.setdefault("random_state", seed)
    if class_weight is not None and "class_weight" in accepted:
        kwargs.setdefault("class_weight", class_weight)
    counts = TokenCounts(spec=tokens)
    if cls is MultinomialNB:
        return Pipeline([("tokens", counts), ("model", cls(**kwargs))])
    return Pipeline([("tokens", counts), ("tfidf", TfidfTransformer(sublinear_tf=True)), ("model", cls(**kwargs))])


class TokenCounts(TransformerMixin, BaseEstimator):
    """Texts → token counts (sparse N×vocab_size, float32): the first step of a text baseline.

    ``fit`` fits a ``TextTokenizer`` from ``spec`` on the texts it is given (learned state: ``tokenizer_``),
    so a pipeline refitted on a fold learns the fold's vocabulary; ``transform`` counts each text's tokens,
    uncut (a count needs no fixed length), as ``TextTokenizer.counts`` does, sparse.
    """

    def __init__(self, spec: TokenizerSpec | None = None) -> None:
        self.spec = spec

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> TokenCounts:
        self.tokenizer_ = TextTokenizer.fit(list(x), self.spec or TokenizerSpec())
        return self

    @property
    def tokenizer(self) -> TextTokenizer:
        """The fitted tokenizer (what a bundle ships as ``tokenizer.json``)."""
        return self.tokenizer_

    def transform(self, x: np.ndarray) -> sparse.csr_matrix:
        seqs = self.tokenizer_.tokens(list(x))
        rows = np.repeat(np.arange(len(seqs)), [len(s) for s in seqs])
        cols = np.fromiter((i for s in seqs for i in s), dtype=np.int64, count=len(rows))
        keep = cols != PAD
        counts = sparse.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
                                   shape=(len(seqs), self.tokenizer_.vocab_size))
        counts.sum_duplicates()
        return counts


def text_tokenizer(est: BaseEstimator) -> TextTokenizer | None:
    """The fitted tokenizer of a text baseline (its ``TokenCounts`` step), or None for another baseline."""
    steps = dict(getattr(est, "steps", []))
    return steps["tokens"].tokenizer if isinstance(steps.get("tokens"), TokenCounts) else None


def describe_text_input(est: BaseEstimator) -> str:
    """``word token counts (sublinear tf-idf), 1,204 in the vocabulary``: what a fitted text baseline reads."""
    tok = text_tokenizer(est)
    if tok is None:
        return ""
    weighting = " (sublinear tf-idf)" if "tfidf" in dict(est.steps) else ""
    return f"{tok.kind} token counts{weighting}, {tok.vocab_size:,} in the vocabulary"


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
        # a pipeline routes a fit parameter to its last step by that step's name
        key = f"{est.steps[-1][0]}__sample_weight" if isinstance(est, Pipeline) else "sample_weight"
        kwargs[key] = compute_sample_weight(class_weight, y)
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
    """Images N×H×W×C uint8 → N×(H·W·C) float32 in [0, 1]; feature tables and texts (counted by the
    pipeline's ``TokenCounts``) pass through."""
    if x.ndim == 1:
        return x
    if x.ndim == 4:
        return x.reshape(len(x), -1).astype(np.float32) / 255.0
    return x.astype(np.float32, copy=False)


def count_params(est: BaseEstimator) -> int:
    """Learned numbers in the fitted estimator: what it must store to predict."""
    final = est.steps[-1][1] if hasattr(est, "steps") else est
    if hasattr(final, "feature_log_prob_"):  # multinomial naive Bayes: per class, each token's probability
        return int(final.feature_log_prob_.size + final.class_log_prior_.size)
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
