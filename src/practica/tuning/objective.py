"""One trial: the experiment with the trial's values, trained in its own folder, scored on validation.

A trial has two halves: the driver (which owns the study) asks the sampler for its values and records the
experiment they make (``prepare_trial``); a worker, wherever the executor runs it, trains and scores that
experiment (``run_trial``, a unit of work), reporting each epoch to the study's storage and asking its
pruner there, and hands back a ``TrialOutcome`` for the driver to tell the study.

A trial's folder is ``RUN_DIR/tuning/<experiment>/trial-<n>/``, laid out as an experiment's (checkpoint,
weights, result). A trial re-run after a kill (``resume_of``) trains in the killed trial's folder and
continues from its last epoch checkpoint. The trial's user attributes follow the tuning storage
contract: ``config`` (the resolved experiment), ``epochs_trained``, ``latency_p50_ms`` (multi-objective).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from practica.config.schema import ExperimentSpec, Suite
from practica.config.tune import resolve
from practica.data.records import Splits
from practica.errors import ModelError
from practica.evaluation.predictors import Predictor
from practica.pipeline.experiment import train_experiment
from practica.pipeline.rundir import ExperimentDir
from practica.pipeline.units import run_cache_dir, worker_splits
from practica.tasks import get_task
from practica.tuning.pruning import EPOCHS_PLANNED, EPOCHS_TRAINED, ReportEpochs, make_pruner
from practica.tuning.space import suggest

if TYPE_CHECKING:
    import optuna

TUNING_DIR = "tuning"  # in the run directory: the suite as given, the studies, the trials' folders
CONFIG = "config"
UNTUNED = "untuned"  # trial 0: the experiment as declared
DECLARED = "declared"  # trial 0's dimensions: the paths whose declared value lies in the space
RESUME_OF = "resume_of"  # a re-run of a trial a kill left running: that trial's number
INTERRUPTED = "interrupted"  # Ctrl-C or a stopped driver ended the trial (failed); a kill leaves it running
LATENCY_CALLS = 100  # batch-1 calls timed per trial: a quick p50, enough to rank models on one machine


class InvalidTrial(ValueError):
    """The trial's values make the experiment invalid together (each end alone was checked at load)."""


def trial_folder(study_dir: Path, number: int) -> Path:
    return study_dir / f"trial-{number}"


def prepare_trial(trial: optuna.Trial, exp: ExperimentSpec, suite: Suite) -> ExperimentSpec:
    """The driver's half of a trial: the sampler's values (trial 0: the experiment as declared), the
    experiment they make, recorded in the trial's user attributes for its worker; ``InvalidTrial`` when they
    do not make a valid experiment together."""
    assert exp.tune is not None
    untuned = bool(trial.user_attrs.get(UNTUNED))
    # Trial 0 is the experiment as declared: only the dimensions it was enqueued with (those inside the space).
    values = suggest(trial, exp.tune.space, only=trial.user_attrs.get(DECLARED) if untuned else None)
    try:
        resolved = resolve(exp, list(suite.augment), values, name=f"{exp.name}-trial-{trial.number}")
    except ValueError as err:
        trial.set_user_attr("error", str(err))
        raise InvalidTrial(f"trial {trial.number}: {err}") from None
    trial.set_user_attr(CONFIG, resolved.model_dump(mode="json"))
    trial.set_user_attr(EPOCHS_PLANNED, resolved.train.epochs)  # the pruner compares trials by progress through it
    return resolved


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to train one trial, and nothing large: the study is opened from its storage,
    the suite read from the run's ``tuning/suite.yaml`` and the data from the cache, unless the job runs in
    the driver's own process (``suite`` and ``splits`` given)."""

    run_path: Path
    experiment: str
    storage: Path
    trial_id: int
    folder: Path  # the trial's folder (a re-run trial's: the interrupted one's)
    objectives: tuple[str, ...]
    prune: bool
    fingerprint: str  # the run's data: the worker's splits must match it
    cache_dir: str | None  # the run's PRACTICA_CACHE_DIR, where the worker finds the decoded data
    suite: Suite | None = None
    splits: Splits | None = None


@dataclass(frozen=True)
class TrialOutcome:
    """What a trial's worker hands back for the driver to tell the study: ``values`` (one per objective) when
    it ran to its end, else why not (``pruned``, or ``invalid``: the values make no model)."""

    state: Literal["complete", "pruned", "invalid"]
    values: tuple[float, ...] | None = None
    note: str = ""


def run_trial(job: TrialJob) -> TrialOutcome:
    """The worker's half of a trial (a unit of work): train the experiment the driver recorded in the trial,
    reporting each epoch to the study and asking its pruner, then score it. It resumes from the checkpoint a
    dead attempt (or an interrupted trial) left in its folder. The trial's state is the driver's to set."""
    import optuna

    with run_cache_dir(job.cache_dir):
        suite = job.suite or read_tuning_suite(job.run_path)
        splits = job.splits if job.splits is not None else worker_splits(suite, job.fingerprint)
        declared = suite.experiment(job.experiment)
        assert declared.tune is not None
        study = optuna.load_study(study_name=job.experiment, storage=open_storage(job.storage),
                                  sampler=optuna.samplers.RandomSampler(),  # the driver samples; no work here
                                  pruner=make_pruner(declared.tune.pruner_spec, declared.train.epochs))
        trial = optuna.Trial(study, job.trial_id)
        frozen = study._storage.get_trial(job.trial_id)  # Optuna has no public call: the attempt before's steps
        exp = ExperimentSpec.model_validate(frozen.user_attrs[CONFIG])
        exp_dir = ExperimentDir(job.folder)
        exp_dir.discard_untrusted_checkpoint()
        report = ReportEpochs(trial, job.objectives[0], prune=job.prune and not frozen.user_attrs.get(UNTUNED),
                              single_objective=len(job.objectives) == 1, reported=frozen.intermediate_values)
        try:
            trained, predictor = train_experiment(exp, suite, splits, exp_dir, resume=True, callbacks=[report])
        except optuna.TrialPruned as pruned:
            return TrialOutcome("pruned", note=str(pruned))
        except KeyboardInterrupt:  # Ctrl-C in the driver's process: the next invocation continues the trial
            trial.set_user_attr(INTERRUPTED, True)
            raise
        except ModelError as err:  # e.g. more pooling than the image has pixels for, with these values
            trial.set_user_attr("error", str(err))
            return TrialOutcome("invalid", note=str(err))
        trial.set_user_attr(EPOCHS_TRAINED, len(trained.history.epochs) if trained.history else 0)
        value = get_task(splits.val.task).metric(job.objectives[0]).value(trained.val)
        if len(job.objectives) == 1:
            return TrialOutcome("complete", (value,))
        cost = _cost(job.objectives[1], predictor, splits.val.x)
        trial.set_user_attr(job.objectives[1], cost)
        return TrialOutcome("complete", (value, cost))


def open_storage(path: Path) -> optuna.storages.RDBStorage:
    """The study's SQLite file, as the driver and every worker open it: writers queue for the lock for up to
    a minute rather than fail at once (a worker reports an epoch while the driver or another worker writes)."""
    import optuna

    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}})


def read_tuning_suite(run_path: Path) -> Suite:
    """The suite the tuning run was started with (``tuning/suite.yaml``), as a worker reads it."""
    import yaml

    from practica.config.load import suite_from_dict

    path = run_path / TUNING_DIR / "suite.yaml"
    return suite_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), base_dir=run_path, origin=str(path))


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
