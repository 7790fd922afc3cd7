"""The records of a whole suite run, as the report and the CLI read them.

An experiment's result is ``Ok`` (trained, scored and costed) or ``Failed`` (with why); consumers
match on the type rather than checking a status and then narrowing optional fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from practica.config.schema import ExperimentSpec, Suite
from practica.data.records import Splits
from practica.diagnosis.records import Diagnosis
from practica.evaluation.records import Cost, CrossValidation, Evaluation, Interval, Predictions, SplitMetrics
from practica.training.history import History

if TYPE_CHECKING:  # not at run time: the selection stage imports these records
    from practica.data.duplicates.checks import HygieneReport
    from practica.evaluation.slice_scores import SliceScores
    from practica.evaluation.thresholds import ThresholdChoice
    from practica.selection.records import Decision


@dataclass(frozen=True)
class Trained:
    """What training an experiment leaves (``result.json``): enough to diagnose, cost and select it."""

    history: History | None  # None for scikit-learn baselines (they have no epochs)
    train: float  # the task's fit figure on the training split (``Evaluation.train``): accuracy, or R²
    val: SplitMetrics
    test: SplitMetrics
    train_seconds: float
    model_summary: str  # e.g. "conv32-relu-maxpool-… (1.25 M params)"
    cv: CrossValidation | None = None  # baselines with dataset.split.cv_folds only
    status: Literal["ok"] = "ok"  # tells it from a Failed record in result.json
    notes: tuple[str, ...] = ()  # what the user should know of the fit, e.g. a baseline that did not converge


@dataclass(frozen=True)
class Ok:
    """An experiment that trained, and its cost and diagnosis: its ``evaluation`` is the training's
    scores with the cost."""

    spec: ExperimentSpec
    trained: Trained
    cost: Cost
    diagnosis: Diagnosis | None = None
    # Every validation and test output (``evaluation.records.Predictions``): for intervals, paired tests,
    # slices and mistakes. None only for results built without them (older runs read back).
    predictions: Predictions | None = None
    slices: SliceScores | None = None  # the selection's metric on every slice (``evaluation.slice_scores``)
    # The validation metrics' bootstrap intervals, by metric name (``Evaluation.intervals``); empty without
    # predictions.
    intervals: dict[str, Interval] = field(default_factory=dict)
    status: Literal["ok"] = "ok"  # the tag of the union: code that must not import this module tests it

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def evaluation(self) -> Evaluation:
        t = self.trained
        return Evaluation(train=t.train, val=t.val, test=t.test, cost=self.cost, intervals=self.intervals)

    @property
    def history(self) -> History | None:
        return self.trained.history

    @property
    def train_seconds(self) -> float:
        return self.trained.train_seconds

    @property
    def model_summary(self) -> str:
        return self.trained.model_summary

    @property
    def cv(self) -> CrossValidation | None:
        return self.trained.cv


@dataclass(frozen=True)
class Failed:
    """An experiment that could not be trained or scored, and why."""

    spec: ExperimentSpec
    error: str
    model_summary: str = ""
    train_seconds: float = 0.0
    status: Literal["failed"] = "failed"  # tells it from an Ok result, and from a Trained record in result.json

    @property
    def name(self) -> str:
        return self.spec.name


ExperimentResult = Ok | Failed


@dataclass(frozen=True)
class SuiteRun:
    suite: Suite
    run_dir: Path
    run_id: str
    splits: Splits
    results: tuple[ExperimentResult, ...]
    decision: Decision
    code_version: str
    started: str  # ISO time
    seconds: float
    bundle: Path | None = None  # the chosen model's production bundle, when it could be written
    hygiene: HygieneReport | None = None  # the data-hygiene checks on the splits (data/hygiene.json)
    threshold: ThresholdChoice | None = None  # the chosen model's decision threshold (selection.threshold)

    def result(self, name: str) -> ExperimentResult:
        return next(r for r in self.results if r.name == name)

    @property
    def failed(self) -> tuple[str, ...]:
        """The experiments that failed, in suite order."""
        return tuple(r.name for r in self.results if isinstance(r, Failed))

    @property
    def status(self) -> Literal["complete", "partial", "failed"]:
        """``complete``: every experiment trained and one was chosen; ``partial``: one was chosen but some
        experiment failed; ``failed``: none was chosen (every one failed, or none meets the selection policy)."""
        if self.decision.chosen is None:
            return "failed"
        return "partial" if self.failed else "complete"
