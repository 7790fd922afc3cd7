"""Pruning from the per-epoch validation metric: a training callback reports it to the trial and stops it.

Optuna's pruners judge one objective only; a multi-objective study trains every trial to its end.
"""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING, Any

import numpy as np

from practica.config.tune import PrunerSpec
from practica.training.callbacks import Callback, Loop
from practica.training.history import EpochRecord

if TYPE_CHECKING:
    import optuna

EPOCHS_TRAINED = "epochs_trained"  # the trial's user attribute (the tuning storage contract)
EPOCHS_PLANNED = "epochs_planned"  # the epochs of the trial's own schedule (train.epochs, perhaps tuned)


def make_pruner(spec: PrunerSpec, max_epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    match spec.name:
        case "median":
            return aligned_median_pruner(spec.startup_trials, spec.warmup_epochs)
        case "halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
        case "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 2))
        case "none":
            return optuna.pruners.NopPruner()


class ReportEpochs(Callback):
    """After each epoch: the epoch's ``metric`` reported to ``trial`` (step = epoch) and the epochs trained
    recorded; with ``prune``, ``optuna.TrialPruned`` raised when the pruner says so. A resumed trial reports
    the epochs its checkpoint restored first, so its curve is whole. A metric the epochs do not record
    (val_macro_f1) is not reported, and the trial trains to its end; nor is any in a multi-objective study
    (``single_objective`` False: Optuna takes no intermediate values there), which records the epochs only.
    ``reported``: the steps the trial holds already (a retry after its worker died), not reported again."""

    def __init__(self, trial: optuna.Trial, metric: str, *, prune: bool, single_objective: bool = True,
                 reported: Container[int] = ()) -> None:
        self.trial, self.metric, self.prune, self.single = trial, metric, prune and single_objective, single_objective
        self.already = reported
        self.reported = 0

    def on_epoch_begin(self, loop: Loop, epoch: int) -> None:
        for record in loop.records[self.reported:]:  # restored from a checkpoint
            self._report(record)

    def on_epoch_end(self, loop: Loop, record: EpochRecord) -> None:
        import optuna

        if not self._report(record) or loop.stop is not None:
            return
        if self.prune and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {record.epoch}: {self.metric} "
                                     f"{record.value(self.metric):.4g}")

    def _report(self, record: EpochRecord) -> bool:
        self.trial.set_user_attr(EPOCHS_TRAINED, record.epoch)
        self.reported = record.epoch
        if not self.single:
            return False
        try:
            value = record.value(self.metric)
        except KeyError:
            return False
        if record.epoch not in self.already:
            self.trial.report(value, step=record.epoch)
        return True


def aligned_median_pruner(startup_trials: int, warmup_epochs: int) -> optuna.pruners.BasePruner:
    """The median rule, with trials compared at the same point of their own schedules.

    Optuna's MedianPruner compares trials at the same epoch. When ``train.epochs`` is searched, epoch 1 of a
    five-epoch one-cycle or triangle schedule (the rate still climbing) is judged against epoch 1 of two- and
    three-epoch ones (the rate already falling): on CIFAR-10 it pruned every trial of four or five epochs at
    its first epoch. Here a trial at epoch e of E planned is judged at progress e/E against each complete
    trial's values interpolated at that progress, only where that trial has a value at or before it (no
    extrapolation back to the start); fewer than one such trial, no verdict. With epochs fixed, this is the
    median rule exactly. A trial at its last planned epoch is never pruned: stopping it saves no epoch and
    loses a complete trial (the CIFAR study pruned three two-epoch trials at their second epoch).
    """
    import optuna

    class AlignedMedianPruner(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            step = trial.last_step
            if step is None or step <= warmup_epochs:
                return False
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if len(complete) < max(1, startup_trials):
                return False
            planned = _planned(trial, step)
            if step >= planned:
                return False
            progress = step / planned
            others = [v for t in complete if (v := _value_at(t, progress)) is not None]
            if not others:
                return False
            maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
            values = [v for v in trial.intermediate_values.values() if np.isfinite(v)]
            if not values:
                return True  # only NaN so far: nothing to keep it for
            best = max(values) if maximize else min(values)
            median = float(np.median(others))
            return best < median if maximize else best > median

    return AlignedMedianPruner()


def _planned(trial: Any, fallback: int) -> int:
    planned = trial.user_attrs.get(EPOCHS_PLANNED)
    return int(planned) if planned else max(fallback, 1)


def _value_at(trial: Any, progress: float) -> float | None:
    """A complete trial's intermediate value at ``progress`` (0–1 of its schedule), linearly interpolated;
    None when its first value comes later than that."""
    steps = sorted(s for s, v in trial.intermediate_values.items() if np.isfinite(v))
    if not steps:
        return None
    planned = _planned(trial, steps[-1])
    xs = np.array(steps, dtype=float) / planned
    if progress < xs[0] - 1e-9:
        return None
    return float(np.interp(progress, xs, [trial.intermediate_values[s] for s in steps]))
