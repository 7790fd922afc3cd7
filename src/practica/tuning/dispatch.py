"""A study's trials through an executor: asked in batches, trained as units of work, told in order.

The driver owns the study. Each batch, it asks the sampler for ``batch`` trials (ask/tell), records each
one's experiment in the study, hands the batch to the executor (one ``WorkUnit`` per trial, ``run_trial``),
waits for the whole batch, then tells the results in trial-number order. Workers open the same storage to
report each epoch and ask the pruner, so pruning works wherever a trial runs.

Why whole batches: a trial is sampled knowing exactly the trials of the batches before its own, and the
median pruner (which compares a trial with *complete* ones only) sees exactly those too, whichever trial of
the batch finishes first. So a study with ``--workers N`` asks, prunes and finds the same trials on every
executor; ``--executor local --workers N`` runs the same study one trial after another. (The halving and
Hyperband pruners also compare with the rung values of trials still running, so with N > 1 their verdicts
can depend on which trial of a batch reaches a rung first.) The price: a batch waits for its slowest trial.

A unit whose worker died runs once more (the executor's rule) and resumes from the trial's last epoch
checkpoint; after a second death the trial is told FAIL with both reasons. A trial is never left RUNNING by
a driver that stops (Ctrl-C, an error): the batch's untold trials are marked interrupted, and
``--resume`` runs them again from their checkpoints.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from practica.config.schema import ExperimentSpec, Suite
from practica.errors import ExecutionError
from practica.execution import Executor, UnitResult, WorkUnit, get_executor
from practica.tuning.objective import (
    DECLARED,
    INTERRUPTED,
    RESUME_OF,
    TUNING_DIR,
    UNTUNED,
    InvalidTrial,
    TrialJob,
    TrialOutcome,
    prepare_trial,
    run_trial,
    trial_folder,
)
from practica.tuning.space import untuned_params
from practica.tuning.study import describe_trial, finished, requeue_interrupted

if TYPE_CHECKING:
    import optuna

    from practica.data.records import Splits


def trial_executor(kind: str = "local", *, workers: int | None = None,
                   address: str | None = None) -> tuple[Executor, int]:
    """The executor that trains a study's trials, and the trials it asks of the sampler at once (the batch).

    ``workers``: the batch; by default 1 in-process (every trial sampled knowing all before it), the worker
    processes (one per CPU), or the Ray cluster's CPUs. With ``local`` the batch's trials run one after
    another, sampled as a parallel study's would be. A Ray cluster is reached here, before any work, so
    that a wrong address is said at once."""
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ExecutionError(f"workers must be a whole number of 1 or more; got {workers!r}.")
    executor = get_executor(kind, workers=None if kind == "local" else workers, address=address)
    if kind == "local":
        return executor, workers or 1
    if kind == "processes":
        return executor, workers or os.cpu_count() or 1
    executor.gpus  # noqa: B018  (connects: an unreachable cluster or a missing Ray is an error now)
    if workers is not None:
        return executor, workers
    from practica.execution.ray import import_ray

    return executor, max(1, int(import_ray().cluster_resources().get("CPU", 1)) // executor.unit_cpus)


def search(study: optuna.Study, exp: ExperimentSpec, suite: Suite, splits: Splits, *, run_path: Path,
           storage: Path, objectives: tuple[str, ...], executor: Executor, batch: int, trials: int | None,
           minutes: float | None, say: Callable[[str], None]) -> float:
    """Run trials, ``batch`` at a time, until the study holds ``trials`` finished ones (complete, pruned or
    failed, counting earlier invocations') or ``minutes`` pass (a batch under way finishes first); the
    seconds spent."""
    started = time.perf_counter()
    if not study.trials:  # trial 0: the experiment as declared, the yardstick of the search
        params, outside = untuned_params(exp, suite)
        for note in outside:
            say(f"{exp.name}: {note}; trial 0 trains the declared value")
        study.enqueue_trial(params, user_attrs={UNTUNED: True, DECLARED: list(params)})
    for number in requeue_interrupted(study):
        say(f"{exp.name}: trial {number} was interrupted; it runs again from its last checkpoint")
    done = finished(study)
    if trials is not None and done >= trials:
        say(f"{exp.name}: the study already holds {done} finished trials (budget {trials})")
        return 0.0
    if not executor.in_process:
        say(f"{exp.name}: trials {batch} at a time with the {executor.describe()}")
    elif batch > 1:
        say(f"{exp.name}: trials asked {batch} at a time, trained one after another in this process")
    gpus: int | None = None  # asked of the executor once there is work (Ray connects to answer)
    while True:
        left = None if trials is None else trials - finished(study)
        if left is not None and left <= 0:
            break
        if minutes is not None and time.perf_counter() - started >= minutes * 60:
            say(f"{exp.name}: {minutes:g} minutes are up")
            break
        asked = _ask(study, exp, suite, min(batch, left or batch), say, objectives)
        gpus = executor.gpus if gpus is None else gpus
        needs = {"cpus": executor.unit_cpus, "gpus": 1 if gpus and exp.model.kind != "sklearn" else 0}
        units = [WorkUnit(f"{exp.name}-trial-{t.number}", run_trial,
                          (_job(t, exp, suite, splits, run_path, storage, objectives, executor, say),),
                          resources=needs) for t in asked]
        results: dict[str, UnitResult] = {}
        try:
            for result in executor.map(units):
                results[result.name] = result
        finally:  # in trial-number order, whichever finished first; a stop (Ctrl-C, a bug) leaves none running
            for trial in asked:
                _tell_result(study, trial, results.get(f"{exp.name}-trial-{trial.number}"), say, objectives)
    return time.perf_counter() - started


def _tell_result(study: optuna.Study, trial: optuna.Trial, result: UnitResult | None, say: Callable[[str], None],
                 objectives: tuple[str, ...]) -> None:
    """A trial's unit result told to the study; no result (the driver stopped first): failed, interrupted,
    for ``--resume`` to run again."""
    if result is None:
        trial.set_user_attr(INTERRUPTED, True)
        _tell(study, trial, None, say, objectives)
        return
    for death in result.deaths[: 1 if result.ok else 0]:
        say(f"{study.study_name}: trial {trial.number}'s worker died ({death}); it ran again from its last "
            "checkpoint")
    if not result.ok:
        trial.set_user_attr("error", result.failure)
    _tell(study, trial, result.value if result.ok else None, say, objectives)


def _ask(study: optuna.Study, exp: ExperimentSpec, suite: Suite, size: int, say: Callable[[str], None],
         objectives: tuple[str, ...]) -> list[optuna.Trial]:
    """``size`` new trials, each with its experiment recorded; one whose values make no valid experiment is
    told failed at once, and the batch goes on without it."""
    asked = []
    for _ in range(size):
        trial = study.ask()
        try:
            prepare_trial(trial, exp, suite)
        except InvalidTrial:
            _tell(study, trial, TrialOutcome("invalid"), say, objectives)
            continue
        asked.append(trial)
    return asked


def _job(trial: optuna.Trial, exp: ExperimentSpec, suite: Suite, splits: Splits, run_path: Path, storage: Path,
         objectives: tuple[str, ...], executor: Executor, say: Callable[[str], None]) -> TrialJob:
    """The trial's unit of work, its folder made ready: a fresh trial's emptied (an older study of the same
    name may have left one), a re-run trial's kept (it continues from the checkpoint there)."""
    assert exp.tune is not None
    resumed = trial.user_attrs.get(RESUME_OF)
    folder = trial_folder(run_path / TUNING_DIR / exp.name, trial.number if resumed is None else int(resumed))
    if resumed is None:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        say(f"{exp.name}: trial {trial.number} continues trial {resumed} from its last checkpoint")
    here = executor.in_process  # the driver's own suite and splits, as they are; a worker loads its own
    trial_id = trial._trial_id  # Optuna has no public call for a trial's id in its storage
    # Absolute paths: a Ray worker does not start in the driver's working directory.
    return TrialJob(run_path.resolve(), exp.name, storage.resolve(), trial_id, folder.resolve(), objectives,
                    prune=exp.tune.pruner_spec.name != "none", fingerprint=splits.fingerprint,
                    cache_dir=os.environ.get("PRACTICA_CACHE_DIR"), suite=suite if here else None,
                    splits=splits if here else None)


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome | None, say: Callable[[str], None],
          objectives: tuple[str, ...]) -> None:
    """The trial's state in the study (no outcome: failed, the reason already in its attributes)."""
    from optuna.trial import TrialState as State

    if outcome is not None and outcome.state == "complete":
        assert outcome.values is not None
        frozen = study.tell(trial, list(outcome.values))
        if frozen.user_attrs.get(UNTUNED):
            study.set_user_attr("untuned_value", frozen.values[0])
    else:
        frozen = study.tell(trial, state=State.PRUNED if outcome and outcome.state == "pruned" else State.FAIL)
    say(f"{study.study_name}: {describe_trial(frozen, objectives)}")
