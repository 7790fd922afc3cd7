"""The records of a whole suite run, as the report and the CLI read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from practica.config.schema import ExperimentSpec, Suite
from practica.data.records import Splits
from practica.diagnosis.records import Diagnosis
from practica.evaluation.records import CrossValidation, Evaluation
from practica.selection.records import Decision
from practica.training.history import History

if TYPE_CHECKING:
    from practica.data.duplicates.checks import HygieneReport


@dataclass(frozen=True)
class ExperimentResult:
    spec: ExperimentSpec
    status: Literal["ok", "failed"]
    history: History | None  # None for scikit-learn baselines (they have no epochs)
    diagnosis: Diagnosis | None
    evaluation: Evaluation | None
    train_seconds: float
    model_summary: str = ""  # e.g. "conv32-relu-maxpool-… (1.25 M params)"
    error: str = ""  # why it failed, when it did
    cv: CrossValidation | None = None  # k-fold accuracy on train+val (baselines, with dataset.split.cv_folds)

    @property
    def name(self) -> str:
        return self.spec.name


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

    def result(self, name: str) -> ExperimentResult:
        return next(r for r in self.results if r.name == name)

    @property
    def failed(self) -> tuple[str, ...]:
        """The experiments that failed, in suite order."""
        return tuple(r.name for r in self.results if r.status == "failed")

    @property
    def status(self) -> Literal["complete", "partial", "failed"]:
        """``complete``: every experiment trained and one was chosen; ``partial``: one was chosen but some
        experiment failed; ``failed``: none was chosen (every one failed, or none meets the selection policy)."""
        if self.decision.chosen is None:
            return "failed"
        return "partial" if self.failed else "complete"
