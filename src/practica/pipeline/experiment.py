"""One experiment: train it (or pick it up where a killed run left it), then score its quality.

Networks and scikit-learn baselines go through the same two calls, ``train_experiment`` and
``load_predictor``, so the suite runner never asks which kind it has.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from practica.config.schema import ExperimentSpec, ModelSpec, Suite
from practica.data.records import Dataset, Splits
from practica.errors import RunError
from practica.evaluation.metrics import split_metrics
from practica.evaluation.predictors import Predictor, SklearnPredictor, TorchPredictor
from practica.evaluation.records import SplitMetrics
from practica.io import read_json, write_json, write_text
from practica.models import baselines
from practica.models.classifier import Classifier, count_parameters
from practica.models.registry import build_network, describe
from practica.training.checkpoint import load_tensors, save_tensors
from practica.training.history import History
from practica.training.trainer import TrainingEvents, fit, pick_device

# Training accuracy (for the train–val gap) is measured on at most this many training samples:
# enough for a tenth of a point of precision, without an extra full pass over a large set.
TRAIN_SCORE_SAMPLES = 10_000
MODEL_FILE = "model.safetensors"
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Trained:
    """What training an experiment leaves: enough to diagnose, cost and select it."""

    status: str
    history: History | None
    train_accuracy: float
    val: SplitMetrics | None
    test: SplitMetrics | None
    train_seconds: float
    model_summary: str
    error: str = ""

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "history": self.history.to_dict() if self.history else None,
            "train_accuracy": self.train_accuracy,
            "val": None if self.val is None else asdict(self.val),
            "test": None if self.test is None else asdict(self.test),
            "train_seconds": self.train_seconds,
            "model_summary": self.model_summary,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Trained:
        return cls(
            status=d["status"],
            history=History.from_dict(d["history"]) if d.get("history") else None,
            train_accuracy=d["train_accuracy"],
            val=SplitMetrics.from_dict(d["val"]) if d.get("val") else None,
            test=SplitMetrics.from_dict(d["test"]) if d.get("test") else None,
            train_seconds=d["train_seconds"],
            model_summary=d.get("model_summary", ""),
            error=d.get("error", ""),
        )


def training_subset(data: Dataset, max_samples: int | None, seed: int) -> Dataset:
    if max_samples is None or max_samples >= len(data):
        return data
    counts = np.bincount(data.y)
    stratify = data.y if counts[counts > 0].min() >= 2 else None
    idx, _ = train_test_split(np.arange(len(data)), train_size=max_samples, stratify=stratify, random_state=seed)
    return data.subset(np.sort(idx))


def _score_subset(data: Dataset) -> Dataset:
    if len(data) <= TRAIN_SCORE_SAMPLES:
        return data
    idx = np.random.default_rng(0).choice(len(data), TRAIN_SCORE_SAMPLES, replace=False)
    return data.subset(np.sort(idx))


def load_trained(exp_dir: Path) -> Trained | None:
    path = exp_dir / RESULT_FILE
    return Trained.from_dict(read_json(path)) if path.is_file() else None


def build_classifier(model: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> Classifier:
    """The network wrapped with input normalisation (statistics filled in by training or loading)."""
    shape = (1, -1, 1, 1) if len(input_shape) == 3 else (1, -1)
    zeros, ones = torch.zeros(input_shape[0]).reshape(shape), torch.ones(input_shape[0]).reshape(shape)
    return Classifier(build_network(model, input_shape, num_classes), zeros, ones)


def train_experiment(
    exp: ExperimentSpec,
    suite: Suite,
    splits: Splits,
    exp_dir: Path,
    *,
    resume: bool,
    events: TrainingEvents | None = None,
) -> tuple[Trained, Predictor]:
    """Train one experiment, score it on the validation and test splits, and save both."""
    exp_dir.mkdir(parents=True, exist_ok=True)
    write_json(exp_dir / "spec.json", exp.model_dump(mode="json"))
    train = training_subset(splits.train, exp.train.max_samples, exp.train.seed)
    started = time.perf_counter()
    if exp.model.kind == "sklearn":
        predictor: Predictor = _fit_baseline(exp, train, len(splits.classes))
        history = None
        summary = f"{describe(exp.model)} ({predictor.params:,} learned values)"
    else:
        input_shape = splits.train.input_shape
        result = fit(
            lambda: build_network(exp.model, input_shape, len(splits.classes)),
            train,
            splits.val,
            exp.train,
            suite.augment_for(exp),
            checkpoint=exp_dir / "checkpoint.safetensors",
            resume=resume,
            events=events,
        )
        history = result.history
        save_tensors(exp_dir / MODEL_FILE, result.model.state_dict(), _model_meta(exp, splits))
        write_text(exp_dir / "history.csv", history.to_csv())
        predictor = TorchPredictor(result.model, pick_device())
        summary = f"{describe(exp.model)} ({count_parameters(result.model):,} parameters)"
    seconds = time.perf_counter() - started
    if history is not None and history.epochs:
        # A resumed run counts the epochs done before the kill too.
        seconds = max(seconds, sum(r.seconds for r in history.epochs))
    scored = _score_subset(train)
    trained = Trained(
        status="ok",
        history=history,
        train_accuracy=split_metrics(predictor.predict_proba(scored.x), scored.y, splits.classes).accuracy,
        val=split_metrics(predictor.predict_proba(splits.val.x), splits.val.y, splits.classes),
        test=split_metrics(predictor.predict_proba(splits.test.x), splits.test.y, splits.classes),
        train_seconds=seconds,
        model_summary=summary,
    )
    write_json(exp_dir / RESULT_FILE, trained.to_dict())
    return trained, predictor


def failed(exp: ExperimentSpec, exp_dir: Path, error: str) -> Trained:
    trained = Trained("failed", None, float("nan"), None, None, 0.0, describe(exp.model), error)
    write_json(exp_dir / RESULT_FILE, trained.to_dict())
    return trained


def _fit_baseline(exp: ExperimentSpec, train: Dataset, num_classes: int) -> SklearnPredictor:
    est = baselines.make_baseline(exp.model.sklearn, exp.model.params, exp.train.seed)  # type: ignore[arg-type]
    est.fit(baselines.as_features(train.x), train.y)
    if "n_jobs" in est.get_params():
        # Parallel fitting pays; parallel prediction of a few samples costs more in thread
        # start-up than it saves, and would dominate the measured latency.
        est.set_params(n_jobs=1)
    return SklearnPredictor(est, num_classes)


def _model_meta(exp: ExperimentSpec, splits: Splits) -> dict:
    return {
        "schema_version": 1,
        "experiment": exp.name,
        "model": exp.model.model_dump(mode="json"),
        "input_shape": list(splits.train.input_shape),
        "classes": list(splits.classes),
    }


def load_predictor(exp: ExperimentSpec, splits: Splits, exp_dir: Path) -> Predictor:
    """The trained model of a finished experiment, for timing.

    Baselines are refitted (deterministic under their seed) rather than unpickled: practica
    never loads a pickle from a run directory.
    """
    if exp.model.kind == "sklearn":
        train = training_subset(splits.train, exp.train.max_samples, exp.train.seed)
        return _fit_baseline(exp, train, len(splits.classes))
    path = exp_dir / MODEL_FILE
    if not path.is_file():
        raise RunError(f"{path} is missing; the experiment '{exp.name}' must be trained again (delete {exp_dir}).")
    tensors, meta = load_tensors(path)
    model = build_classifier(ModelSpec.model_validate(meta["model"]), tuple(meta["input_shape"]), len(meta["classes"]))
    model.load_state_dict(tensors)
    return TorchPredictor(model, pick_device())
