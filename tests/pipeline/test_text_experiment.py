"""A text experiment through ``train_experiment``: the tokenizer fitted on the training split only, the model
meta that rebuilds the network with its tokenizer, predictors that take raw texts, and clear errors for a model
that does not suit the data's kind."""

from __future__ import annotations

import numpy as np
import pytest
from text_corpus import text_splits

from practica.config.load import suite_from_dict
from practica.config.schema import ExperimentSpec
from practica.data import prepare_data
from practica.data.tokenizer import UNK, TextTokenizer
from practica.errors import ConfigError
from practica.evaluation.cost import measure_cost
from practica.evaluation.predictors import TextPredictor
from practica.models.classifier import TextClassifier
from practica.pipeline.experiment import fit_tokenizer, load_predictor, train_experiment
from practica.pipeline.rundir import ExperimentDir
from practica.pipeline.suite import preflight

TRAIN = {"epochs": 10, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}}


def text_suite(*experiments: dict, augment: list | None = None) -> object:
    return suite_from_dict({"name": "t", "dataset": {"source": "digits"}, "defaults": {"train": TRAIN},
                            "augment": augment or [], "experiments": list(experiments)})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    suite = text_suite({"name": "bag", "model": {"arch": "text_bag", "params": {"dim": 32}}})
    splits = text_splits()
    exp_dir = ExperimentDir(tmp_path_factory.mktemp("run") / "experiments" / "bag")
    result, predictor = train_experiment(suite.experiments[0], suite, splits, exp_dir, resume=False)
    return suite, splits, exp_dir, result, predictor


def test_a_text_network_trains_and_scores_on_raw_texts(trained) -> None:
    _, _, _, result, predictor = trained
    assert isinstance(predictor, TextPredictor) and isinstance(predictor.model, TextClassifier)
    assert result.val.classification.accuracy > 0.7
    assert "word tokens" in result.model_summary and "in the vocabulary, texts cut at" in result.model_summary


def test_the_model_meta_keeps_the_tokenizer_and_rebuilds_the_predictor(trained) -> None:
    suite, splits, exp_dir, _, predictor = trained
    _, meta = exp_dir.read_model("bag")
    assert meta["text_input"] == "ids"
    tok = TextTokenizer.from_dict(meta["tokenizer"])
    assert meta["input_shape"] == [tok.max_length]
    assert tok.to_dict() == predictor.tokenizer.to_dict()
    loaded = load_predictor(suite.experiments[0], splits, exp_dir)
    assert isinstance(loaded, TextPredictor)
    np.testing.assert_allclose(loaded.outputs(splits.test.x), predictor.outputs(splits.test.x), atol=1e-6)


def test_the_tokenizer_is_fitted_on_the_training_split_only() -> None:
    splits = text_splits()
    val_x = splits.val.x.copy()
    val_x[0] = "zanzibar " * 3  # a word no training text has, however often validation repeats it
    exp = ExperimentSpec.model_validate({"name": "bag", "model": {"arch": "text_bag"}})
    tok = fit_tokenizer(exp.model, splits.train)
    assert tok.encode(["zanzibar"])[0, 0] == UNK
    assert tok.unknown_rate(["zanzibar bread"]) == 0.5


def test_latency_is_timed_per_raw_text(trained) -> None:
    _, splits, _, _, predictor = trained
    cost = measure_cost(predictor, splits.test.x, latency_samples=5, batch=16)
    assert cost.latency_p50_ms > 0 and cost.throughput > 0
    assert cost.size_bytes > 4 * predictor.params  # the tokenizer's vocabulary ships with the weights


@pytest.mark.parametrize(("experiment", "augment", "message"), [
    ({"name": "r", "model": {"arch": "resnet20"}}, None,
     r"experiments\[0\] \(r\)\.model: arch 'resnet20' reads images or feature vectors; this data set is text"),
    ({"name": "l", "model": {"layers": ["flatten", {"dense": 8}]}}, None, r"a layer list reads images"),
    ({"name": "b", "model": {"arch": "text_bag"}}, [{"hflip": {}}],
     r"augmentation \(hflip\) transforms images, but this data set is text"),
])
def test_a_model_that_does_not_read_text_is_refused_before_training(experiment, augment, message) -> None:
    with pytest.raises(ConfigError, match=message):
        preflight(text_suite(experiment, augment=augment), text_splits(60))


def test_a_text_arch_and_a_tokenizer_are_refused_on_images() -> None:
    digits_splits = prepare_data(text_suite({"name": "m", "model": {"arch": "mlp"}}).dataset)
    with pytest.raises(ConfigError, match=r"arch 'text_bag' reads text"):
        preflight(text_suite({"name": "b", "model": {"arch": "text_bag"}}), digits_splits)
    with pytest.raises(ConfigError, match=r"experiments\[0\] \(m\)\.model\.tokenizer applies to text data; this "
                                          r"data set has images"):
        preflight(text_suite({"name": "m", "model": {"arch": "mlp", "tokenizer": {"kind": "char"}}}), digits_splits)


def test_text_baselines_train_cross_validate_and_refit(tmp_path, monkeypatch) -> None:
    suite = suite_from_dict({"name": "t", "dataset": {"source": "digits", "split": {"cv_folds": 3}},
                             "experiments": [{"name": "lr", "model": {"sklearn": "logistic_regression"}},
                                             {"name": "nb", "model": {"sklearn": "naive_bayes"}}]})
    splits = text_splits()
    fitted_on: list[set[str]] = []
    fit = TextTokenizer.fit.__func__  # type: ignore[attr-defined]

    def spy(cls, texts, spec):
        fitted_on.append(set(texts))
        return fit(cls, texts, spec)

    monkeypatch.setattr(TextTokenizer, "fit", classmethod(spy))
    for exp in suite.experiments:
        fitted_on.clear()
        exp_dir = ExperimentDir(tmp_path / exp.name)
        result, predictor = train_experiment(exp, suite, splits, exp_dir, resume=False)
        assert result.val.classification.accuracy > 0.75, exp.name
        assert "word token counts" in result.model_summary
        assert result.cv is not None and len(result.cv.accuracies) == 3 and min(result.cv.accuracies) > 0.6
        # once on the training split, then once per fold on that fold's training part only
        assert fitted_on[0] == set(splits.train.x) and len(fitted_on) == 4
        pool = set(splits.train.x) | set(splits.val.x)
        assert all(len(part) < len(pool) * 0.8 for part in fitted_on[1:])
        refit = load_predictor(exp, splits, exp_dir)
        np.testing.assert_allclose(refit.outputs(splits.test.x), predictor.outputs(splits.test.x))
