"""Pruning from the per-epoch validation metric: a training callback reports it to the trial and stops it.

Optuna's pruners judge one objective only; a multi-objective study trains every trial to its end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from practica.config.tune import PrunerSpec
from practica.training.callbacks import Callback, Loop
from practica.training.history import EpochRecord

if TYPE_CHECKING:
    import optuna

EPOCHS_TRAINED = "epochs_trained"  # the trial's user attribute (the tuning storage contract)


def make_pruner(spec: PrunerSpec, max_epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    match spec.name:
        case "median":
            return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials,
                                               n_warmup_steps=spec.warmup_epochs)
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
    (``single_objective`` False: Optuna takes no intermediate values there), which records the epochs only."""

    def __init__(self, trial: optuna.Trial, metric: str, *, prune: bool, single_objective: bool = True) -> None:
        self.trial, self.metric, self.prune, self.single = trial, metric, prune and single_objective, single_objective
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
        self.trial.report(value, step=record.epoch)
        return True
