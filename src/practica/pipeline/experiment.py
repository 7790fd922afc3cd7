"""One experiment: train it (or pick it up where a killed run left it), then score its quality.

Networks and scikit-learn baselines go through the same two calls, ``train_experiment`` and
``load_predictor``, so the suite runner never asks which kind it has.

Every file a resumed run trusts (``result.json``, ``model.safetensors``, ``checkpoint.safetensors``)
has its sha256 beside it; ``resume_state`` sets aside whatever no longer matches, and the experiment
is trained again rather than shipped with damaged weights.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from practica.config.schema import ExperimentSpec, ModelSpec, Suite
from practica.data.records import Dataset, Splits
from practica.errors import RunError
from practica.evaluation.metrics import score
from practica.evaluation.predictors import Predictor, SklearnPredictor, TorchPredictor
from practica.evaluation.records import CrossValidation, SplitMetrics
from practica.io import checksum_problem, read_json, remove_with_checksum, write_checksum, write_json, write_text
from practica.models import baselines
from practica.models.classifier import Classifier, Regressor, count_parameters
from practica.models.preprocess import TablePreprocessing, with_table
from practica.models.registry import build_network, describe
from practica.training.checkpoint import load_tensors, save_tensors
from practica.training.history import History
from practica.training.trainer import TrainingEvents, fit, pick_device

# Training accuracy (for the train–val gap) is measured on at most this many training samples:
# enough for a tenth of a point of precision, without an extra full pass over a large set.
TRAIN_SCORE_SAMPLES = 10_000
MODEL_FILE = "model.safetensors"
RESULT_FILE = "result.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
TRACEBACK_FILE = "traceback.txt"  # beside a failure record whose cause was not one practica raises on purpose


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
    cv: CrossValidation | None = None  # baselines with dataset.split.cv_folds only
    train_r2: float = float("nan")  # a regression's R² on the training split (its train_accuracy is NaN)

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
            "cv": None if self.cv is None else self.cv.to_dict(),
            "train_r2": self.train_r2,
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
            cv=CrossValidation.from_dict(d["cv"]) if d.get("cv") else None,
            train_r2=float("nan") if d.get("train_r2") is None else d["train_r2"],
        )


def training_subset(data: Dataset, max_samples: int | None, seed: int) -> Dataset:
    if max_samples is None or max_samples >= len(data):
        return data
    strata = data.y
    if data.is_regression:  # stratified on the target's quantile bins
        from practica.data.sources.targets import target_bins

        strata = target_bins(data.y)
    counts = np.bincount(strata)
    stratify = strata if counts[counts > 0].min() >= 2 else None
    idx, _ = train_test_split(np.arange(len(data)), train_size=max_samples, stratify=stratify, random_state=seed)
    return data.subset(np.sort(idx))


def _score_subset(data: Dataset) -> Dataset:
    if len(data) <= TRAIN_SCORE_SAMPLES:
        return data
    idx = np.random.default_rng(0).choice(len(data), TRAIN_SCORE_SAMPLES, replace=False)
    return data.subset(np.sort(idx))


def resume_state(exp: ExperimentSpec, exp_dir: Path) -> tuple[Trained | None, list[str]]:
    """What a resumed run keeps of one experiment: its finished result, when the result record and the
    weights it rests on still match their recorded sha256; and one note for each file set aside.

    A failed experiment is tried again. A result or weights that do not match are deleted (the
    experiment is trained again, from its checkpoint when that matches); so is a checkpoint that does
    not match (training starts afresh).
    """
    notes: list[str] = []
    result_path, model_path = exp_dir / RESULT_FILE, exp_dir / MODEL_FILE
    if result_path.is_file():
        trusted = [result_path] + ([model_path] if exp.model.kind != "sklearn" else [])
        problems = [p for p in map(checksum_problem, trusted) if p is not None]
        if not problems:
            trained = Trained.from_dict(read_json(result_path))
            if trained.status == "ok":
                return trained, notes
            notes.append(f"failed last time ({trained.error}); trying it again")
        else:
            notes += [f"{p}; training it again" for p in problems]
        remove_with_checksum(result_path)
        remove_with_checksum(model_path)
        (exp_dir / TRACEBACK_FILE).unlink(missing_ok=True)
    checkpoint = exp_dir / CHECKPOINT_FILE
    if checkpoint.is_file() and (problem := checksum_problem(checkpoint)) is not None:
        notes.append(f"{problem}; it is deleted and training starts afresh")
        remove_with_checksum(checkpoint)
    return None, notes


def build_classifier(
    model: ModelSpec, input_shape: tuple[int, ...], num_classes: int, preprocessing: dict | None = None,
    *, task: str = "classification",
) -> Classifier:
    """The network wrapped with input normalisation (statistics filled in by training or loading), or
    with a table's fitted ``preprocessing`` (``TablePreprocessing.to_dict()``) in front instead."""
    # A regression's network has one output unit, wrapped with the target's scale (filled in by loading).
    wrapper, units = (Regressor, 1) if task == "regression" else (Classifier, num_classes)
    shape = (1, -1, 1, 1) if len(input_shape) == 3 else (1, -1)
    zeros, ones = torch.zeros(input_shape[0]).reshape(shape), torch.ones(input_shape[0]).reshape(shape)
    if preprocessing is not None:
        pre = TablePreprocessing.from_dict(preprocessing).module()
        return wrapper(build_network(model, (pre.fitted.width,), units), zeros, ones, pre)
    return wrapper(build_network(model, input_shape, units), zeros, ones)


def output_units(train: Dataset) -> int:
    """The network's outputs: one per class, or one value for a regression."""
    return 1 if train.is_regression else len(train.classes)


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
    cv = None
    if exp.model.kind == "sklearn":
        predictor: Predictor = _fit_baseline(exp, train, len(splits.classes))
        history = None
        summary = f"{describe(exp.model)} ({predictor.params:,} learned values)"
        if baselines.balancing(exp.model.sklearn, exp.train.class_weight) == "none" and exp.train.class_weight:
            summary += f"; class_weight: {exp.train.class_weight} does not apply ({exp.model.sklearn} takes no weights)"
        if suite.dataset.split.cv_folds:
            cv = cross_validate(exp, splits, suite.dataset.split.cv_folds)
    else:
        input_shape = splits.train.input_shape
        preprocess = None
        if train.table is not None:  # a CSV table: preprocessing fitted on the training rows only
            preprocess = TablePreprocessing.fit(train.x, train.table).module()
            input_shape = (preprocess.fitted.width,)
        result = fit(
            lambda: build_network(exp.model, input_shape, output_units(splits.train)),
            train,
            splits.val,
            exp.train,
            suite.augment_for(exp),
            checkpoint=exp_dir / CHECKPOINT_FILE,
            resume=resume,
            events=events,
            preprocess=preprocess,
        )
        history = result.history
        save_tensors(exp_dir / MODEL_FILE, result.model.state_dict(), _model_meta(exp, splits, preprocess), checksum=True)
        write_text(exp_dir / "history.csv", history.to_csv())
        predictor = TorchPredictor(result.model, pick_device())
        summary = f"{describe(exp.model)} ({count_parameters(result.model):,} parameters)"
    seconds = time.perf_counter() - started
    if history is not None and history.epochs:
        # A resumed run counts the epochs done before the kill too.
        seconds = max(seconds, sum(r.seconds for r in history.epochs))
    scored = _score_subset(train)
    train_score = score(predictor, scored.x, scored.y, splits.classes)
    trained = Trained(
        status="ok",
        history=history,
        train_accuracy=train_score.accuracy,
        val=score(predictor, splits.val.x, splits.val.y, splits.classes),
        test=score(predictor, splits.test.x, splits.test.y, splits.classes),
        train_seconds=seconds,
        model_summary=summary,
        cv=cv,
        train_r2=train_score.regression.r2 if train_score.regression else float("nan"),
    )
    _write_result(exp_dir, trained)
    return trained, predictor


def failed(exp: ExperimentSpec, exp_dir: Path, error: str, traceback: str | None = None) -> Trained:
    """Record a failed experiment. ``traceback``: an unexpected error's, written to ``traceback.txt``
    beside the record, which the error message then names."""
    if traceback is not None:
        write_text(exp_dir / TRACEBACK_FILE, traceback)
        error += f" (traceback in {exp_dir / TRACEBACK_FILE})"
    trained = Trained("failed", None, float("nan"), None, None, 0.0, describe(exp.model), error)
    _write_result(exp_dir, trained)
    return trained


def _write_result(exp_dir: Path, trained: Trained) -> None:
    write_json(exp_dir / RESULT_FILE, trained.to_dict())
    write_checksum(exp_dir / RESULT_FILE)


def cross_validate(exp: ExperimentSpec, splits: Splits, folds: int) -> CrossValidation:
    """Accuracy of the baseline over ``folds`` folds of train+val: stratified, seeded by the split's seed,
    and group-aware (a duplicate group is never in a fold's training and scoring parts at once).
    ``train.max_samples`` caps the samples drawn from, as it caps the training split."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    idx = np.concatenate([splits.indices["train"], splits.indices["val"]])
    x = np.concatenate([splits.train.x, splits.val.x])
    y = np.concatenate([splits.train.y, splits.val.y])
    groups = splits.groups[idx] if splits.groups is not None else np.arange(len(idx))
    if exp.train.max_samples is not None and exp.train.max_samples < len(y):
        keep = np.sort(training_subset(Dataset("cv", np.arange(len(y))[:, None], y, splits.classes),
                                       exp.train.max_samples, exp.train.seed).x[:, 0])
        x, y, groups = x[keep], y[keep], groups[keep]
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise RunError(f"cross-validation needs at least {folds} duplicate groups in train+val, found {n_groups}; "
                       "lower dataset.split.cv_folds")
    seed = splits.seed
    if n_groups == len(y):  # no duplicates: the plain stratified k-fold
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    with warnings.catch_warnings():  # a class rarer than the folds is fine; the scores show it
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        for fit_idx, score_idx in splitter.split(x, y, groups if n_groups < len(y) else None):
            part = Dataset("fold", x[fit_idx], y[fit_idx], splits.classes, table=splits.train.table)
            est = _fit_baseline(exp, part, len(splits.classes))
            scores.append(float((est.predict_proba(x[score_idx]).argmax(1) == y[score_idx]).mean()))
    return CrossValidation(folds=folds, accuracies=tuple(scores), samples=len(y), groups=n_groups)


def _fit_baseline(exp: ExperimentSpec, train: Dataset, num_classes: int) -> SklearnPredictor:
    name = exp.model.sklearn
    est = baselines.make_baseline(name, exp.model.params, exp.train.seed, exp.train.class_weight,  # type: ignore[arg-type]
                                  task=train.task)
    if train.table is not None:  # a CSV table: its preprocessing is the pipeline's first step, fitted on train
        est = with_table(est, train.table)
    baselines.fit_baseline(name, est, train.x, train.y, exp.train.class_weight)  # type: ignore[arg-type]
    if "n_jobs" in est.get_params():
        # Parallel fitting pays; parallel prediction of a few samples costs more in thread
        # start-up than it saves, and would dominate the measured latency.
        est.set_params(n_jobs=1)
    return SklearnPredictor(est, num_classes)


def _model_meta(exp: ExperimentSpec, splits: Splits, preprocess=None) -> dict:
    return {
        **({"preprocessing": preprocess.fitted.to_dict()} if preprocess is not None else {}),
        "schema_version": 1,
        "experiment": exp.name,
        "model": exp.model.model_dump(mode="json"),
        "input_shape": list(splits.train.input_shape),
        "classes": list(splits.classes),
        "task": splits.train.task,
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
    if (problem := checksum_problem(path)) is not None:
        raise RunError(f"{problem}; the experiment '{exp.name}' must be trained again: resume its run "
                       f"(practica run SUITE --resume --run-id {exp_dir.parent.parent.name}), which retrains it.")
    tensors, meta = load_tensors(path)
    model = build_classifier(ModelSpec.model_validate(meta["model"]), tuple(meta["input_shape"]), len(meta["classes"]),
                             meta.get("preprocessing"), task=meta.get("task", "classification"))
    model.load_state_dict(tensors)
    return TorchPredictor(model, pick_device())
