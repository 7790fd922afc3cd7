"""Small text models and their bundles, for the bundle, prediction and serving tests.

A synthetic three-topic corpus (sport, food, computers), a word tokenizer fitted on its training split, and
two models as the pipeline makes them: a ``text_bag`` network behind the tokenizer (a predictor holding
``tokenizer`` and ``model``, as the pipeline's text predictor does) and a baseline pipeline ``TokenCounts →
tf-idf → logistic regression``. ``text_bundle`` exports either through ``write_bundle``, as a run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from torch import nn

from practica.bundle.export import BundleSource, write_bundle
from practica.config.load import suite_from_dict
from practica.config.schema import TokenizerSpec
from practica.data.records import Dataset, Splits
from practica.data.tokenizer import TextTokenizer
from practica.evaluation import Cost, Evaluation, split_metrics
from practica.models.classifier import count_parameters, weight_bytes
from practica.models.text_nets import text_bag
from practica.selection.records import Decision, Ranked

CLASSES = ("sport", "food", "computers")
TOPICS = {
    "sport": ("match goal team player score win league coach ball referee stadium season"),
    "food": ("recipe soup bread cheese oven flavour dinner salad sauce bake kitchen taste"),
    "computers": ("laptop keyboard software code compiler screen memory processor bug server cloud disk"),
}
COMMON = "the a of and to in it was very with this that"


def corpus(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` texts of 4 to 14 words, most from their class's topic, some common; labels 0–2."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    texts = np.empty(n, dtype=object)
    for i, label in enumerate(y):
        words = [rng.choice(TOPICS[CLASSES[label]].split()) if rng.random() < 0.6 else rng.choice(COMMON.split())
                 for _ in range(rng.integers(4, 15))]
        texts[i] = " ".join(words).capitalize() + "."
    return texts, y.astype(np.int64)


def text_splits() -> Splits:
    parts = {}
    for name, n, seed in (("train", 240, 0), ("val", 60, 1), ("test", 60, 2)):
        x, y = corpus(n, seed)
        parts[name] = Dataset(name, x, y, CLASSES, sources=tuple(f"topics.csv:row {i + 2}" for i in range(n)))
    return Splits(parts["train"], parts["val"], parts["test"],
                  indices={k: np.arange(len(v)) for k, v in parts.items()}, fingerprint="t" * 64, seed=0,
                  test_is_fixed=False)


class TextNetwork(nn.Module):
    """A network over token ids, logits out: the shape of the pipeline's ``TextClassifier`` (a ``body``)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.body(ids)


class NetworkTextPredictor:
    """Texts in, probabilities out: the tokenizer, then the network."""

    task = "classification"

    def __init__(self, tokenizer: TextTokenizer, model: nn.Module) -> None:
        self.tokenizer, self.model = tokenizer, model.eval()
        self.params, self.size_bytes = count_parameters(model), weight_bytes(model)

    @torch.inference_mode()
    def outputs(self, x: np.ndarray) -> np.ndarray:
        ids = torch.from_numpy(self.tokenizer.encode([str(t) for t in x]))
        return torch.softmax(self.model(ids), dim=1).numpy()

    predict_proba = outputs


class TokenCounts(BaseEstimator, TransformerMixin):
    """Texts → the tokenizer's token counts: a baseline pipeline's first step."""

    def __init__(self, tokenizer: TextTokenizer | None = None) -> None:
        self.tokenizer = tokenizer

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        assert self.tokenizer is not None
        return self.tokenizer.counts([str(t) for t in x])


class BaselineTextPredictor:
    task = "classification"
    params = 0
    size_bytes = 0

    def __init__(self, estimator: Pipeline, num_classes: int) -> None:
        self.estimator, self.num_classes = estimator, num_classes

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(x)

    predict_proba = outputs


def fit_tokenizer(splits: Splits, **spec) -> TextTokenizer:
    return TextTokenizer.fit(splits.train.x, TokenizerSpec(kind="word", **spec))


def train_network(splits: Splits, tokenizer: TextTokenizer, epochs: int = 60) -> NetworkTextPredictor:
    torch.manual_seed(0)
    model = TextNetwork(text_bag((tokenizer.max_length,), len(CLASSES), vocab_size=tokenizer.vocab_size,
                                 dim=16, hidden=8))
    ids, y = torch.from_numpy(tokenizer.encode(list(splits.train.x))), torch.from_numpy(splits.train.y)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(ids), y).backward()
        opt.step()
    return NetworkTextPredictor(tokenizer, model)


def train_baseline(splits: Splits, tokenizer: TextTokenizer) -> BaselineTextPredictor:
    pipe = Pipeline([("counts", TokenCounts(tokenizer)), ("tfidf", TfidfTransformer()),
                     ("clf", LogisticRegression(max_iter=500))])
    pipe.fit(splits.train.x, splits.train.y)
    return BaselineTextPredictor(pipe, len(CLASSES))


@dataclass(frozen=True)
class TextRun:
    splits: Splits
    tokenizer: TextTokenizer
    network: NetworkTextPredictor
    baseline: BaselineTextPredictor


@cache
def text_run() -> TextRun:
    """Trained once per test session (a few seconds), shared by every directory's fixtures."""
    splits = text_splits()
    tokenizer = fit_tokenizer(splits)
    return TextRun(splits, tokenizer, train_network(splits, tokenizer), train_baseline(splits, tokenizer))


def text_bundle(run: TextRun, which: str, out: Path) -> Path:
    """``which``: "network" or "baseline"; the bundle written to ``out`` as a run's export writes it."""
    predictor = run.network if which == "network" else run.baseline
    suite = suite_from_dict({
        "name": "topics", "dataset": {"source": "digits"},
        "experiments": [{"name": "bag", "model": {"arch": "text_bag", "params": {"dim": 16, "hidden": 8}}},
                        {"name": "tfidf", "model": {"sklearn": "logistic_regression"}}]})
    name = "bag" if which == "network" else "tfidf"
    s = run.splits
    evaluation = Evaluation(
        train=float((predictor.outputs(s.train.x).argmax(1) == s.train.y).mean()),
        val=split_metrics(predictor.outputs(s.val.x), s.val.y, CLASSES),
        test=split_metrics(predictor.outputs(s.test.x), s.test.y, CLASSES),
        cost=Cost(params=1, size_bytes=1, latency_p50_ms=0.1, latency_p95_ms=0.2, throughput=1000.0))
    decision = Decision(chosen=name, metric="val_accuracy", summary=f"{name} was chosen",
                        ranking=(Ranked(name, evaluation.val.classification.accuracy, "chosen", "the best"),))
    src = BundleSource(suite=suite, experiment=suite.experiment(name), splits=s, predictor=predictor,
                       evaluation=evaluation, diagnosis=None, decision=decision, run_id="r1", code_version="test",
                       lineage={"fingerprint": s.fingerprint, "note": "a test's"})
    return write_bundle(src, out)
