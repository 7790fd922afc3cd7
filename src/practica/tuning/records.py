"""What a study leaves for the terminal and the caller: one row per trial, and the study's summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TrialState = Literal["complete", "pruned", "failed", "running", "waiting"]


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: TrialState
    values: tuple[float, ...] | None  # one per objective; None unless complete
    epochs: int | None  # epochs trained (a pruned trial's too); None for a model without epochs
    params: dict[str, object]
    untuned: bool = False  # trial 0: the experiment as declared
    note: str = ""


@dataclass(frozen=True)
class StudySummary:
    """One experiment's study after this invocation: its trials, the best (or the front) and the cost."""

    experiment: str
    storage: Path  # the SQLite file; optuna-dashboard sqlite:///<storage> opens it
    objectives: tuple[str, ...]
    directions: tuple[Literal["maximize", "minimize"], ...]
    sampler: str
    pruner: str
    trials: tuple[TrialRow, ...]
    best: tuple[int, ...]  # the best trial's number; the Pareto front's, best first objective first
    untuned_value: float | None
    seconds: float  # wall time of this invocation's search
    tuned_experiments: tuple[str, ...] = ()  # the experiments added to the run, best first

    def count(self, state: TrialState) -> int:
        return sum(t.state == state for t in self.trials)

    @property
    def best_value(self) -> float | None:
        row = next((t for t in self.trials if self.best and t.number == self.best[0]), None)
        return row.values[0] if row is not None and row.values else None

    @property
    def epochs_trained(self) -> int:
        return sum(t.epochs or 0 for t in self.trials)
