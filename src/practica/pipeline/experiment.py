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
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from practica.config.schema import ExperimentSpec, ModelSpec, Suite, TokenizerSpec
from practica.data.records import Dataset, Splits
from practica.data.tokenizer import TextTokenizer
from practica.errors import RunError
from practica.evaluation.metrics import score, score_outputs
from practica.evaluation.predictors import Bf16Check, Predictor, SklearnPredictor, TextPredictor, TorchPredictor
from practica.evaluation.records import CrossValidation, Predictions, RegressionMetrics
from practica.models import baselines
from practica.models.classifier import build_classifier, count_parameters
from practica.models.features import BackboneFeatures, with_features
from practica.models.preprocess import PREPROCESSING, TablePreprocessing, with_table
from practica.models.registry import build_network, describe
from practica.pipeline.backbone import features_network, pretrained_network
from practica.pipeline.modality import check_model_fits_data
from practica.pipeline.rundir import ExperimentDir
from practica.results import Failed, Trained
from practica.tasks import get_task
from practica.training.callbacks import Callback
from practica.training.history import History
from practica.training.trainer import TrainingEvents, fit, pick_device

# Training accuracy (for the train–val gap) is measured on at most this many training samples:
# enough for a tenth of a point of precision, without an extra full pass over a large set.
TRAIN_SCORE_SAMPLES = 10_000


def training_subset(data: Dataset, max_samples: int | None, seed: int) -> Dataset:
    if max_samples is None or max_samples >= len(data):
        return data
    strata = data.y
    if not get_task(data.task).has_classes:  # stratified on the target's quantile bins
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


def resume_state(exp: ExperimentSpec, exp_dir: ExperimentDir) -> tuple[Trained | None, list[str]]:
    """What a resumed run keeps of one experiment: its finished result, when the result record and the
    weights it rests on still match their recorded sha256; and one note for each file set aside.

    A failed experiment is tried again. A result or weights that do not match are deleted (the
    experiment is trained again, from its checkpoint when that matches); so is a checkpoint that does
    not match (training starts afresh).
    """
    notes: list[str] = []
    if exp_dir.result.is_file():
        if not (problems := exp_dir.trust_problems(exp)):
            match exp_dir.read_result(exp):
                case Trained() as trained:
                    return trained, notes
                case Failed(error=error):
                    notes.append(f"failed last time ({error}); trying it again")
        else:
            notes += [f"{p}; training it again" for p in problems]
        exp_dir.discard_result()
    if (problem := exp_dir.discard_untrusted_checkpoint()) is not None:
        notes.append(f"{problem}; it is deleted and training starts afresh")
    return None, notes


def output_units(train: Dataset) -> int:
    """The network's outputs: one per class, or one value for a regression."""
    return get_task(train.task).output_width(len(train.classes))


def train_experiment(
    exp: ExperimentSpec,
    suite: Suite,
    splits: Splits,
    exp_dir: ExperimentDir,
    *,
    resume: bool,
    events: TrainingEvents | None = None,
    callbacks: Sequence[Callback] = (),
) -> tuple[Trained, Predictor]:
    """Train one experiment, score it on the validation and test splits, and save both. ``callbacks``: more
    training callbacks for a network (``fit``'s), e.g. a tuning trial's pruning."""
    check_model_fits_data(exp, suite.augment_for(exp), splits.train.kind, f"experiment {exp.name}", splits.train.task)
    exp_dir.path.mkdir(parents=True, exist_ok=True)
    exp_dir.write_spec(exp)
    train = training_subset(splits.train, exp.train.max_samples, exp.train.seed)
    started = time.perf_counter()
    cv = None
    notes: tuple[str, ...] = ()
    if exp.model.kind == "sklearn":
        predictor: Predictor
        predictor, notes = _fit_baseline(exp, train, len(splits.classes))
        history = None
        text_input = baselines.describe_text_input(predictor.estimator)  # the tokenizer it fitted, on text
        summary = "; ".join([f"{describe(exp.model)} ({predictor.params:,} learned values)",
                             *([text_input] if text_input else []), *notes])
        assert exp.model.sklearn is not None  # kind "sklearn": the one model field given is sklearn
        if baselines.balancing(exp.model.sklearn, exp.train.class_weight) == "none" and exp.train.class_weight:
            summary += f"; class_weight: {exp.train.class_weight} does not apply ({exp.model.sklearn} takes no weights)"
        if suite.dataset.split.cv_folds:
            cv = cross_validate(exp, splits, suite.dataset.split.cv_folds)
    else:
        input_shape = splits.train.input_shape
        preprocess, tokenizer, vocab_size = None, None, None
        if train.table is not None:  # a CSV table: preprocessing fitted on the training rows only
            preprocess = TablePreprocessing.fit(train.x, train.table).module()
            input_shape = (preprocess.fitted.width,)
        if train.kind == "text":  # the vocabulary and length learned from the training texts only
            tokenizer = fit_tokenizer(exp.model, train)
            input_shape, vocab_size = (tokenizer.max_length,), tokenizer.vocab_size
        make_body = lambda: build_network(exp.model, input_shape, output_units(splits.train),  # noqa: E731
                                          vocab_size=vocab_size)
        transfer, transfer_note = None, ""
        if exp.model.pretrained is not None:
            make_body, transfer, transfer_note = pretrained_network(exp.model, input_shape, output_units(splits.train))
        result = fit(
            make_body,
            train,
            splits.val,
            exp.train,
            suite.augment_for(exp),
            checkpoint=exp_dir.checkpoint,
            resume=resume,
            events=events,
            preprocess=preprocess,
            transfer=transfer,
            callbacks=callbacks,
            tokenizer=tokenizer,
            precision_cache=exp_dir.precision_cache,
        )
        history = result.history
        exp_dir.write_model(result.model.state_dict(), _model_meta(exp, splits, preprocess, tokenizer))
        exp_dir.write_history(history)
        predictor = TorchPredictor(result.model, pick_device())
        summary = f"{describe(exp.model)} ({count_parameters(result.model):,} parameters)"
        if tokenizer is not None:
            predictor = TextPredictor(predictor, tokenizer)
            summary += f"; {tokenizer.describe()}"
        if transfer_note:
            summary += f"; {transfer_note}"
    seconds = time.perf_counter() - started
    if history is not None and history.epochs:
        # A resumed run counts the epochs done before the kill too.
        seconds = max(seconds, sum(r.seconds for r in history.epochs))
    scoring = scoring_predictor(predictor, history)
    scored = _score_subset(train)
    train_score = score(scoring, scored.x, scored.y, splits.classes)
    outputs = predict_splits(scoring, splits)
    if isinstance(scoring, TorchPredictor) and scoring.checks:
        notes += (Bf16Check.merge(scoring.checks).describe(),)
    trained = Trained(
        status="ok",
        history=history,
        train=train_score.regression.r2 if isinstance(train_score.figures, RegressionMetrics)
        else train_score.classification.accuracy,
        val=score_outputs(outputs.val, splits.val.y, splits.classes, predictor.task),
        test=score_outputs(outputs.test, splits.test.y, splits.classes, predictor.task),
        train_seconds=seconds,
        model_summary=summary,
        cv=cv,
        notes=notes,
    )
    exp_dir.write_predictions(outputs)
    exp_dir.write_result(trained)
    return trained, predictor


def scoring_predictor(predictor: Predictor, history: History | None) -> Predictor:
    """What scores the splits: a network that trained under bf16 (``precision: auto`` measured it faster, or
    the suite asked) is scored under bf16 too, its near ties in fp32, so its classes are fp32's (``Bf16Check``):
    a CIFAR-10 run's 25,000 scored images with six test-time views took ~100 s in fp32."""
    if (isinstance(predictor, TorchPredictor) and history is not None and history.precision is not None
            and history.precision.used == "bf16"):
        return TorchPredictor(predictor.model, predictor.device, predictor.batch_size, precision="bf16")
    return predictor


def predict_splits(predictor: Predictor, splits: Splits) -> Predictions:
    """The model's outputs on every validation and test sample, kept for intervals, paired tests and slices."""
    return Predictions(val=np.asarray(predictor.outputs(splits.val.x), dtype=np.float32),
                       test=np.asarray(predictor.outputs(splits.test.x), dtype=np.float32))


def failed(exp: ExperimentSpec, exp_dir: ExperimentDir, error: str, traceback: str | None = None) -> Failed:
    """Record a failed experiment. ``traceback``: an unexpected error's, written to ``traceback.txt``
    beside the record, which the error message then names."""
    if traceback is not None:
        error += f" (traceback in {exp_dir.write_traceback(traceback)})"
    result = Failed(exp, error, describe(exp.model))
    exp_dir.write_result(result)
    return result


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
            est, _ = _fit_baseline(exp, part, len(splits.classes))  # the full fit's notes suffice
            scores.append(float((est.predict_proba(x[score_idx]).argmax(1) == y[score_idx]).mean()))
    return CrossValidation(folds=folds, accuracies=tuple(scores), samples=len(y), groups=n_groups)


def _fit_baseline(exp: ExperimentSpec, train: Dataset, num_classes: int) -> tuple[SklearnPredictor, tuple[str, ...]]:
    """The fitted baseline, and its fit's notes (one that did not converge says so)."""
    name = exp.model.sklearn
    assert name is not None  # only sklearn models are fitted here
    tokens = (exp.model.tokenizer or TokenizerSpec()) if train.kind == "text" else None  # fitted in the pipeline
    est = baselines.make_baseline(name, exp.model.params, exp.train.seed, exp.train.class_weight, task=train.task,
                                  tokens=tokens)
    if train.table is not None:  # a CSV table: its preprocessing is the pipeline's first step, fitted on train
        est = with_table(est, train.table)
    notes: tuple[str, ...] = ()
    if exp.model.features is not None:  # the frozen-features baseline: a network's penultimate layer in front
        network, origin = features_network(exp.model.features.source, train.input_shape)
        c, h, w = train.input_shape
        est = with_features(est, BackboneFeatures(network=network, image_shape=(c, h, w)))
        notes = (f"on the penultimate features of {origin}, frozen",)
    fitted = baselines.fit_baseline(name, est, train.x, train.y, exp.train.class_weight)
    if "n_jobs" in est.get_params():
        # Parallel fitting pays; parallel prediction of a few samples costs more in thread
        # start-up than it saves, and would dominate the measured latency.
        est.set_params(n_jobs=1)
    return SklearnPredictor(est, num_classes), notes + fitted.notes


def fit_tokenizer(model: ModelSpec, train: Dataset) -> TextTokenizer:
    """The tokenizer a text experiment's network reads through: ``model.tokenizer`` (default: words, sizes
    chosen from the data), fitted on the training texts ``train`` only, so validation and test words it never
    saw become unknown tokens, as production's will. Deterministic: a resumed run fits the same one."""
    return TextTokenizer.fit(train.x.tolist(), model.tokenizer or TokenizerSpec())


def _model_meta(exp: ExperimentSpec, splits: Splits, preprocess=None, tokenizer: TextTokenizer | None = None) -> dict:
    """What rebuilds the trained network from its weights: ``build_classifier``'s arguments, and a text
    network's tokenizer (``"text_input": "ids"``: it reads the tokenizer's ``encode``)."""
    return {
        **({"preprocessing": PREPROCESSING.dump_python(preprocess.fitted, mode="json")}
           if preprocess is not None else {}),
        **({"tokenizer": tokenizer.to_dict(), "text_input": "ids"} if tokenizer is not None else {}),
        "schema_version": 1,
        "experiment": exp.name,
        "model": exp.model.standalone().model_dump(mode="json"),  # the weights hold what came from a backbone
        "input_shape": [tokenizer.max_length] if tokenizer is not None else list(splits.train.input_shape),
        "classes": list(splits.classes),
        "task": splits.train.task,
    }


def load_predictor(exp: ExperimentSpec, splits: Splits, exp_dir: ExperimentDir) -> Predictor:
    """The trained model of a finished experiment, for timing.

    Baselines are refitted (deterministic under their seed) rather than unpickled: practica
    never loads a pickle from a run directory.
    """
    if exp.model.kind == "sklearn":
        train = training_subset(splits.train, exp.train.max_samples, exp.train.seed)
        return _fit_baseline(exp, train, len(splits.classes))[0]  # its notes were given when it was trained
    tensors, meta = exp_dir.read_model(exp.name)
    return predictor_from_meta(tensors, meta)


def predictor_from_meta(tensors: dict, meta: dict) -> Predictor:
    """The predictor of a network saved as ``tensors`` (its state dict) and ``meta`` (``_model_meta``'s); a text
    network's with its tokenizer in front."""
    model = build_classifier(ModelSpec.model_validate(meta["model"]), tuple(meta["input_shape"]), len(meta["classes"]),
                             meta.get("preprocessing"), task=meta.get("task", "classification"),
                             tokenizer=meta.get("tokenizer"))
    model.load_state_dict(tensors)
    network = TorchPredictor(model, pick_device())
    if "tokenizer" in meta:
        return TextPredictor(network, TextTokenizer.from_dict(meta["tokenizer"]))
    return network
