"""practica as a Python library: run a suite, read its results, predict with its bundle.

    >>> import practica
    >>> run = practica.run("suite.yaml")           # a path, a dict as the YAML would load, or a Suite
    >>> run.chosen, run.metrics[run.chosen].val.classification.accuracy
    ('mlp', 0.97)
    >>> model = practica.load_bundle(run.bundle)  # ONNX Runtime only: no torch needed
    >>> model.predict(x_test[:3])[0].label
    '7'

The same stages and run directory as ``practica run`` and ``practica predict``, and the same errors:
a ``PracticaError`` (``ConfigError``, ``DataError``, ``BundleError``, ``InputError``…) whose message says
what to change. ``import practica`` loads none of this (see ``practica/__init__.py``): torch and the
pipeline load on the first call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

# Only what a bundle needs loads here (ONNX Runtime, on first use): the pipeline, and torch with it, load
# when a suite is run or a run directory read.
from practica.bundle.inputs import InputSpec, decode_item, features_to_array, pixels_to_array, text_of
from practica.bundle.load import Bundle
from practica.bundle.load import load_bundle as open_bundle
from practica.config import Suite, load_suite, only_experiments, suite_from_dict
from practica.errors import BundleError, ConfigError, InputError
from practica.prediction import Item, Row, open_inputs, predict_items
from practica.prediction.sources import resolve_label

if TYPE_CHECKING:
    from practica.config.schema import ExperimentSpec
    from practica.diagnosis.records import Diagnosis
    from practica.evaluation.records import Evaluation
    from practica.selection.records import Decision

SuiteLike = str | Path | Mapping[str, Any] | Suite
RECORD_KEYS = ("image", "pixels", "features", "text")  # a JSON record's input, as practica predict and serve read it


# ----------------------------------------------------------------------------- running a suite


@dataclass(frozen=True)
class RunResult:
    """A finished run, read back from its run directory (``open_run`` reads any finished run)."""

    run_dir: Path
    run_id: str
    suite: str  # the suite's name
    status: str  # run.json's: complete, partial (some experiment failed), failed (no model chosen)
    decision: Decision  # the chosen experiment (or None) and a reason for every other
    metrics: Mapping[str, Evaluation]  # per trained experiment: train, val and test scores, and cost
    diagnoses: Mapping[str, Diagnosis]  # per trained experiment: the verdict in words, and its evidence
    failed: Mapping[str, str]  # per failed experiment: why
    bundle: Path | None  # the chosen model's production bundle, when one was written

    @property
    def chosen(self) -> str | None:
        return self.decision.chosen

    @property
    def report_html(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def report_md(self) -> Path:
        return self.run_dir / "report.md"

    def load_bundle(self) -> Model:
        """The chosen model, ready to predict; a BundleError when no model was chosen or packaged."""
        if self.bundle is None:
            raise BundleError(f"the run {self.run_dir} has no bundle ({self.decision.summary}); "
                              "package another experiment with: practica export RUN_DIR --experiment NAME")
        return load_bundle(self.bundle)


def run(
    suite: SuiteLike,
    *,
    runs: str | Path = "runs",
    resume: bool = False,
    run_id: str | None = None,
    reevaluate: bool = False,
    experiments: Sequence[str] | str | None = None,
    quiet: bool = True,
) -> RunResult:
    """Run a suite as ``practica run`` does, and return its results.

    ``suite``: a suite file, a dict as its YAML would load (relative data paths from the current folder),
    or a ``Suite``. ``runs``: where run directories go. ``resume``: continue the newest (or ``run_id``) run
    of the suite; one that has finished is read back, not run again, unless ``reevaluate``.
    ``experiments``: run only these (names, or ``"a,b"``). ``quiet=False`` prints each stage.

        >>> result = practica.run({"name": "d", "dataset": {"source": "digits"},
        ...                        "experiments": [{"name": "lr", "model": {"sklearn": "logistic_regression"}}]})
        >>> result.chosen
        'lr'
    """
    from practica.pipeline.suite import finished_run, run_suite

    spec = as_suite(suite)
    if experiments is not None:
        spec = only_experiments(spec, experiments.split(",") if isinstance(experiments, str) else list(experiments))
    root = Path(runs)
    if resume and not reevaluate and (done := finished_run(root, spec, run_id)) is not None:
        return open_run(done.path)
    result = run_suite(spec, runs_root=root, resume=resume, run_id=run_id, reporter=None if quiet else PrintReporter())
    return open_run(result.run_dir)


def as_suite(suite: SuiteLike) -> Suite:
    """A suite from a file path, a dict or a ``Suite``; anything else is a ConfigError."""
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, str | Path):
        return load_suite(suite)
    if isinstance(suite, Mapping):
        return suite_from_dict(dict(suite), base_dir=Path.cwd(), origin="the suite dict")
    raise ConfigError(f"practica.run takes a suite: a path to its .yaml, a dict as the YAML would load, or a Suite; "
                      f"got {type(suite).__name__}.")


def open_run(run_dir: str | Path) -> RunResult:
    """The results of a run that reached its decision (``runs/<suite>/<run-id>``), read from its files."""
    from practica.pipeline.rundir import RunDir  # the run's records load torch; a bundle alone does not
    from practica.results import Failed

    run = RunDir.finished(Path(run_dir))
    suite = run.read_suite()
    status = run.read_status()
    decision = run.read_decision()
    metrics: dict[str, Evaluation] = {}
    diagnoses: dict[str, Diagnosis] = {}
    failed: dict[str, str] = {}
    for exp in suite.experiments:
        exp_dir = run.experiment(exp.name)
        if (evaluation := exp_dir.read_evaluation()) is not None:
            metrics[exp.name] = evaluation
        if (diagnosis := exp_dir.read_diagnosis()) is not None:
            diagnoses[exp.name] = diagnosis
        if exp_dir.result.is_file() and isinstance(outcome := exp_dir.read_result(exp), Failed):
            failed[exp.name] = outcome.error
    bundle = run.bundle()
    return RunResult(
        run_dir=run.path, run_id=run.id, suite=suite.name, status=status.get("status", "failed"), decision=decision,
        metrics=metrics, diagnoses=diagnoses, failed=failed,
        bundle=bundle if decision.chosen is not None and bundle.is_dir() else None,
    )


class PrintReporter:
    """``quiet=False``: each stage and experiment as a plain line (a notebook shows them as they come)."""

    def stage(self, message: str) -> None:
        print(message, flush=True)

    def run_started(self, run_dir: Path) -> None: ...

    def experiment(self, index: int, total: int, exp: ExperimentSpec) -> None:
        print(f"[{index}/{total}] {exp.name}: training", flush=True)

    def experiment_done(self, exp: ExperimentSpec, trained: Any) -> None:
        outcome = f"failed: {trained.error}" if trained.status != "ok" else f"trained in {trained.train_seconds:.0f} s"
        print(f"  {exp.name} {outcome}", *(f"  note: {note}" for note in getattr(trained, "notes", ())),
              sep="\n", flush=True)


# ----------------------------------------------------------------------------- predicting with a bundle


@dataclass(frozen=True)
class Prediction:
    """One input's prediction, as a row of ``practica predict``."""

    input: str  # the file's path, the record's id, or "[i]" for the i-th of the inputs given
    label: str | None = None  # the most probable class (None for a regressor, or an input that failed)
    probability: float | None = None  # the label's
    probabilities: Mapping[str, float] = field(default_factory=dict)  # every class's, most probable first
    value: float | None = None  # a regressor's predicted value
    true_label: str | None = None  # when the input says it (class sub-folders, a label column or key)
    error: str | None = None  # why there is no prediction (``errors="keep"`` only)


Inputs = np.ndarray | str | Path | Mapping[str, Any] | Sequence[Any]


class Model:
    """A bundle, ready to predict: ONNX Runtime, the card's preprocessing; no torch.

    ``bundle`` is the underlying ``practica.bundle.Bundle`` (its card, ``predict_proba`` on raw arrays)."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    @property
    def classes(self) -> tuple[str, ...]:
        return self.bundle.classes

    @property
    def task(self) -> str:
        return self.bundle.task

    @property
    def input(self) -> InputSpec:
        """What one sample is: an H×W×C image or a row of features (``input.describe()`` says it)."""
        return self.bundle.input

    def __repr__(self) -> str:
        return f"Model({str(self.bundle.root)!r}: {self.bundle.version}, {self.input.describe()})"

    def predict(self, inputs: Inputs, *, errors: Literal["raise", "keep"] = "raise") -> list[Prediction]:
        """One ``Prediction`` per input, in order. ``inputs``: an array of samples (N × the input shape: uint8
        images, or feature rows), or one sample; an image file, a folder of images, a pixel CSV or a JSON /
        JSON Lines file (as ``practica predict`` reads them); a dict (a table row, named features, or a
        record ``{"image": base64} / {"pixels": …} / {"features": …}``); or a list of any of these.

        An input that cannot be predicted raises an ``InputError`` naming it; with ``errors="keep"`` it is a
        ``Prediction`` with its ``error`` instead.
        """
        self.bundle.session  # noqa: B018 — a model that cannot load fails before any input is read
        items = list(self._items(inputs, errors))
        rows = predict_items(self.bundle, items, top_k=max(1, len(self.classes)))
        out = [as_prediction(row) for row in rows]
        if errors == "raise" and (bad := [p for p in out if p.error is not None]):
            raise InputError(f"{len(bad)} of {len(out)} inputs cannot be predicted; the first, "
                             f"{bad[0].input}: {bad[0].error}")
        return out

    def _items(self, inputs: Inputs, errors: str) -> Iterator[Item]:
        spec = self.input
        if spec.kind == "text" and isinstance(inputs, np.ndarray):  # texts: a 1-D array of str
            yield from (self._item(f"[{i}]", text, errors) for i, text in enumerate(inputs.reshape(-1).tolist()))
        elif isinstance(inputs, np.ndarray):
            if inputs.shape == spec.shape:
                inputs = inputs[None]
            elif inputs.shape[1:] != spec.shape:
                raise InputError(f"an array of shape {_shape(inputs.shape)} given to a model that takes "
                                 f"{spec.describe()}: give N×{_shape(spec.shape)} samples, or one {_shape(spec.shape)}")
            yield from (self._item(f"[{i}]", sample, errors) for i, sample in enumerate(inputs))
        elif isinstance(inputs, str | Path | Mapping):
            yield from self._element("[0]", inputs, errors)
        elif isinstance(inputs, Iterable):
            elements = list(inputs)
            if elements and not any(isinstance(e, str | Path | Mapping | np.ndarray) for e in elements):
                yield from self._items(np.asarray(elements), errors)  # nested lists of numbers: an array
                return
            for i, element in enumerate(elements):
                yield from self._element(f"[{i}]", element, errors)
        else:
            raise InputError(f"cannot predict a {type(inputs).__name__}; give an array, a path, a dict, or a list "
                             "of these")

    def _element(self, name: str, element: Any, errors: str) -> Iterator[Item]:
        if isinstance(element, str) and self.input.kind == "text":  # a text model's str is a text; a Path, a file
            yield self._item(name, element, errors)
        elif isinstance(element, str | Path):  # files go through practica predict's readers
            (source,) = open_inputs([element], self.input, self.classes)
            yield from source.items
        else:
            yield self._item(name, element, errors)

    def _item(self, name: str, sample: Any, errors: str) -> Item:
        """One sample decoded as the model's input, or an Item that carries why it cannot be."""
        spec, label = self.input, None
        try:
            if isinstance(sample, Mapping) and any(k in sample for k in RECORD_KEYS) and \
                    set(sample) <= {*RECORD_KEYS, "id", "label"}:
                name = str(sample.get("id", name))
                if sample.get("label") is not None:
                    label = resolve_label(sample["label"], self.classes)
                array = decode_item({k: v for k, v in sample.items() if k in RECORD_KEYS}, spec)
            elif spec.kind == "text":
                array = text_of(sample, spec)
            elif spec.kind == "image":
                array = pixels_to_array(sample, spec)
            else:
                array = features_to_array(sample.tolist() if isinstance(sample, np.ndarray) else sample, spec)
        except InputError as err:
            if errors == "raise":
                raise InputError(f"{name}: {err}") from None
            return Item(name, error=str(err), label=label)
        if isinstance(array, str):  # a text model's input: its text, tokenised with the batch
            return Item(name, text=array, label=label)
        return Item(name, array=array, label=label)


def load_bundle(path: str | Path) -> Model:
    """The bundle at ``path`` (a run's ``bundle/``, or a folder ``practica export`` wrote), verified
    against its manifest, ready to ``predict``."""
    return Model(open_bundle(path))


def as_prediction(row: Row) -> Prediction:
    return Prediction(
        input=row.input, label=row.prediction if row.value is None else None, probability=row.probability,
        probabilities=dict(row.top_k), value=row.value, true_label=row.true_label, error=row.error,
    )


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) or "a scalar"
