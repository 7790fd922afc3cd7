"""One trial: the experiment with the trial's values, trained in its own folder, scored on validation.

A trial's folder is ``RUN_DIR/tuning/<experiment>/trial-<n>/``, laid out as an experiment's (checkpoint,
weights, result). A trial re-run after a kill (``resume_of``) trains in the killed trial's folder and
continues from its last epoch checkpoint. The trial's user attributes follow the tuning storage
contract: ``config`` (the resolved experiment), ``epochs_trained``, ``latency_p50_ms`` (multi-objective).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from practica.config.schema import ExperimentSpec, Suite
from practica.config.tune import resolve
from practica.data.records import Splits
from practica.errors import ModelError
from practica.evaluation.predictors import Predictor
from practica.pipeline.experiment import train_experiment
from practica.pipeline.rundir import ExperimentDir
from practica.tasks import get_task
from practica.tuning.pruning import EPOCHS_PLANNED, EPOCHS_TRAINED, ReportEpochs
from practica.tuning.space import suggest

if TYPE_CHECKING:
    import optuna

CONFIG = "config"
UNTUNED = "untuned"  # trial 0: the experiment as declared
DECLARED = "declared"  # trial 0's dimensions: the paths whose declared value lies in the space
RESUME_OF = "resume_of"  # a re-run of a trial a kill left running: that trial's number
INTERRUPTED = "interrupted"  # Ctrl-C stopped the trial (Optuna marks it failed); a kill leaves it running
LATENCY_CALLS = 100  # batch-1 calls timed per trial: a quick p50, enough to rank models on one machine


class InvalidTrial(ValueError):
    """The trial's values make the experiment invalid together (each end alone was checked at load)."""


def trial_folder(study_dir: Path, number: int) -> Path:
    return study_dir / f"trial-{number}"


@dataclass
class TrialObjective:
    """The function the study optimises: one value per objective, or ``optuna.TrialPruned``."""

    exp: ExperimentSpec
    suite: Suite
    splits: Splits
    objectives: tuple[str, ...]
    prune: bool
    study_dir: Path
    say: Callable[[str], None]

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        assert self.exp.tune is not None
        untuned = bool(trial.user_attrs.get(UNTUNED))
        # Trial 0 is the experiment as declared: only the dimensions it was enqueued with (those inside the space).
        values = suggest(trial, self.exp.tune.space, only=trial.user_attrs.get(DECLARED) if untuned else None)
        name = f"{self.exp.name}-trial-{trial.number}"
        try:
            exp = resolve(self.exp, list(self.suite.augment), values, name=name)
        except ValueError as err:
            trial.set_user_attr("error", str(err))
            raise InvalidTrial(f"trial {trial.number}: {err}") from None
        trial.set_user_attr(CONFIG, exp.model_dump(mode="json"))
        trial.set_user_attr(EPOCHS_PLANNED, exp.train.epochs)  # the pruner compares trials by progress through it
        resumed = trial.user_attrs.get(RESUME_OF)
        folder = trial_folder(self.study_dir, trial.number if resumed is None else int(resumed))
        exp_dir = ExperimentDir(folder)
        if resumed is None and folder.exists():
            shutil.rmtree(folder)  # left by an older study of the same name: never continued by mistake
        elif resumed is not None:
            self.say(f"trial {trial.number}: continuing trial {resumed} from its last checkpoint")
            exp_dir.discard_untrusted_checkpoint()
        report = ReportEpochs(trial, self.objectives[0], prune=self.prune and not untuned,
                              single_objective=len(self.objectives) == 1)
        try:
            trained, predictor = train_experiment(exp, self.suite, self.splits, exp_dir, resume=True,
                                                  callbacks=[report])
        except KeyboardInterrupt:  # Optuna records it failed; the next invocation continues it
            trial.set_user_attr(INTERRUPTED, True)
            raise
        except ModelError as err:  # e.g. more pooling than the image has pixels for, with these values
            trial.set_user_attr("error", str(err))
            raise InvalidTrial(f"trial {trial.number}: {err}") from None
        trial.set_user_attr(EPOCHS_TRAINED, len(trained.history.epochs) if trained.history else 0)
        task = get_task(self.splits.val.task)
        value = task.metric(self.objectives[0]).value(trained.val)
        if len(self.objectives) == 1:
            return value
        cost = _cost(self.objectives[1], predictor, self.splits.val.x)
        trial.set_user_attr(self.objectives[1], cost)
        return value, cost


def _cost(name: str, predictor: Predictor, x: np.ndarray) -> float:
    """The second objective: batch-1 latency p50 in ms (a fixed count of calls on one thread, one CPU), or
    the size in MB."""
    if name == "size_mb":
        return predictor.size_bytes / 1e6
    from practica.evaluation.cost import WARMUP_CALLS, one_thread, pinned_to_one_cpu, time_latency

    x = np.ascontiguousarray(x[:LATENCY_CALLS])
    for i in range(WARMUP_CALLS):
        predictor.outputs(x[i % len(x): i % len(x) + 1])
    with one_thread(), pinned_to_one_cpu():
        times = time_latency({"model": predictor}, x, min_calls=LATENCY_CALLS, precision=1.0, budget_s=5.0)
    return float(np.median(times["model"]) * 1000)


def trial_config(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    config = trial.user_attrs.get(CONFIG)
    return config if isinstance(config, dict) else None
