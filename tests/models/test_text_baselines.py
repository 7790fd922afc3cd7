"""Baselines on texts: TokenCounts (the tokenizer fitted inside the pipeline), tf-idf + logistic regression,
multinomial naive Bayes on the counts, raw texts in through the predictor."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.naive_bayes import MultinomialNB
from text_corpus import text_splits

from practica.config.schema import ModelSpec, TokenizerSpec
from practica.data.tokenizer import TextTokenizer
from practica.errors import ModelError
from practica.evaluation.predictors import SklearnPredictor
from practica.models import baselines
from practica.models.registry import check_model_params


@pytest.fixture(scope="module")
def splits():
    return text_splits()


def test_token_counts_are_the_tokenizers_counts_sparse(splits) -> None:
    counts = baselines.TokenCounts(TokenizerSpec()).fit(splits.train.x)
    tok = TextTokenizer.fit(splits.train.x.tolist(), TokenizerSpec())
    np.testing.assert_array_equal(counts.transform(splits.test.x).toarray(), tok.counts(splits.test.x.tolist()))
    assert counts.tokenizer_.to_dict() == tok.to_dict()


def test_a_clone_fits_its_own_vocabulary() -> None:
    counts = baselines.TokenCounts(TokenizerSpec()).fit(np.array(["alpha beta", "alpha beta"], dtype=object))
    other = clone(counts).fit(np.array(["gamma delta", "gamma delta"], dtype=object))
    assert "gamma" in other.tokenizer_.hf.get_vocab() and "gamma" not in counts.tokenizer_.hf.get_vocab()


@pytest.mark.parametrize(("name", "steps", "last"), [
    ("logistic_regression", ["tokens", "tfidf", "model"], "LogisticRegression"),
    ("naive_bayes", ["tokens", "model"], "MultinomialNB"),
    ("random_forest", ["tokens", "tfidf", "model"], "RandomForestClassifier"),
])
def test_text_baselines_read_raw_texts(splits, name, steps, last) -> None:
    est = baselines.make_baseline(name, {}, 0, tokens=TokenizerSpec())
    assert [s for s, _ in est.steps] == steps and type(est.steps[-1][1]).__name__ == last
    fitted = baselines.fit_baseline(name, est, splits.train.x, splits.train.y, None)
    predictor = SklearnPredictor(fitted.estimator, len(splits.classes))
    proba = predictor.predict_proba(splits.test.x)
    assert proba.shape == (len(splits.test), 3)
    assert (proba.argmax(1) == splits.test.y).mean() > 0.7
    assert predictor.params > 0 and predictor.size_bytes > 0
    assert "word token counts" in baselines.describe_text_input(fitted.estimator)


def test_balanced_naive_bayes_on_texts_gets_sample_weights(splits) -> None:
    keep = np.concatenate([np.flatnonzero(splits.train.y != 0), np.flatnonzero(splits.train.y == 0)[:10]])
    est = baselines.make_baseline("naive_bayes", {}, 0, "balanced", tokens=TokenizerSpec())
    fitted = baselines.fit_baseline("naive_bayes", est, splits.train.x[keep], splits.train.y[keep], "balanced")
    assert isinstance(fitted.estimator.steps[-1][1], MultinomialNB)


def test_naive_bayes_params_are_checked_for_text() -> None:
    check_model_params(ModelSpec(sklearn="naive_bayes", params={"alpha": 0.5}))  # accepted at suite load
    est = baselines.make_baseline("naive_bayes", {"alpha": 0.5}, 0, tokens=TokenizerSpec())
    assert est.steps[-1][1].alpha == 0.5
    with pytest.raises(ModelError, match=r"params.var_smoothing is not an option of sklearn 'naive_bayes' on text "
                                         r"\(MultinomialNB\)"):
        baselines.make_baseline("naive_bayes", {"var_smoothing": 1e-9}, 0, tokens=TokenizerSpec())
