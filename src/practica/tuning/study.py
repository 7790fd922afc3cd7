"""The Optuna study of one experiment: created or resumed from its SQLite file, and read back as a summary
(``dispatch.py`` searches it within budget).

Storage: ``RUN_DIR/tuning/<experiment>.db``, study name = the experiment's name, loaded if it exists, so a
killed ``practica tune`` resumes where it was. The study's user attributes follow the tuning storage
contract (objectives, budget, pruner, sampler, untuned_value). One process drives a study at a time (its
workers only report to it): a trial it finds RUNNING was left by a kill; it is marked failed and enqueued
again with the same values, to continue from its last epoch checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from practica.config.schema import ExperimentSpec
from practica.config.tune import TuneSpec
from practica.errors import ConfigError
from practica.tasks import get_task
from practica.tuning.objective import DECLARED, INTERRUPTED, RESUME_OF, UNTUNED, open_storage, trial_config
from practica.tuning.pruning import EPOCHS_TRAINED, make_pruner
from practica.tuning.records import StudySummary, TrialRow, TrialState

if TYPE_CHECKING:
    import optuna


Direction = Literal["maximize", "minimize"]
RERUN_OF = "rerun_of"  # the interrupted trial a trial runs again


def study_storage(tuning_dir: Path, experiment: str) -> Path:
    return tuning_dir / f"{experiment}.db"


def directions(objectives: tuple[str, ...], task_name: str) -> tuple[Direction, ...]:
    task = get_task(task_name)
    first: Direction = "maximize" if task.metric(objectives[0]).higher_is_better else "minimize"
    cost: Direction = "minimize"  # latency, size
    return (first, *[cost] * (len(objectives) - 1))


def open_study(storage: Path, exp: ExperimentSpec, spec: TuneSpec, objectives: tuple[str, ...],
               dirs: tuple[Direction, ...], budget: dict[str, float | None]) -> optuna.Study:
    """The experiment's study, created or loaded; a loaded one must have the same objectives. ``budget``: the
    budget in force (``--trials`` and ``--minutes`` over the suite's)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage.parent.mkdir(parents=True, exist_ok=True)
    sampler = {"tpe": lambda: optuna.samplers.TPESampler(seed=spec.seed),
               "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=spec.seed),
               "random": lambda: optuna.samplers.RandomSampler(seed=spec.seed)}[spec.sampler_name]()
    study = optuna.create_study(storage=open_storage(storage), study_name=exp.name, directions=list(dirs),
                                sampler=sampler, pruner=make_pruner(spec.pruner_spec, exp.train.epochs),
                                load_if_exists=True)
    before = study.user_attrs.get("objectives")
    if before is not None and tuple(before) != objectives:
        raise ConfigError(f"the study in {storage} optimises {before}, the suite now {list(objectives)}; "
                          "restore the objective, or tune in a new run (drop --resume)")
    study.set_user_attr("objectives", list(objectives))
    study.set_user_attr("budget", budget)
    study.set_user_attr("pruner", spec.pruner_spec.name)
    study.set_user_attr("sampler", spec.sampler_name)
    study.set_user_attr("space", {p: d.model_dump(mode="json") for p, d in spec.space.items()})
    if "untuned_value" not in study.user_attrs:
        study.set_user_attr("untuned_value", None)
    return study


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Trials a kill left RUNNING, or Ctrl-C stopped (failed, ``interrupted``): each marked failed and enqueued
    again with its values (and its folder, ``resume_of``), to continue from its checkpoint. Their numbers."""
    from optuna.trial import TrialState as State

    trials = study.get_trials(deepcopy=False)
    rerun = {t.user_attrs.get(RERUN_OF) for t in trials}
    stale = [t for t in trials if t.number not in rerun and (
        t.state == State.RUNNING or (t.state == State.FAIL and t.user_attrs.get(INTERRUPTED)))]
    for t in stale:
        if t.state == State.RUNNING:  # Optuna has no public call for this: the storage's, as its own code does
            study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
            study._storage.set_trial_state_values(t._trial_id, State.FAIL)
        attrs = {RESUME_OF: t.user_attrs.get(RESUME_OF, t.number), RERUN_OF: t.number,
                 **{k: t.user_attrs[k] for k in (UNTUNED, DECLARED) if k in t.user_attrs}}
        study.enqueue_trial(t.params, user_attrs=attrs)
    return [t.number for t in stale]


def finished(study: optuna.Study) -> int:
    """Trials that count against the budget: complete, pruned, or failed other than by an interruption."""
    from optuna.trial import TrialState as State

    return sum(t.state in (State.COMPLETE, State.PRUNED)
               or (t.state == State.FAIL and not t.user_attrs.get(INTERRUPTED))
               for t in study.get_trials(deepcopy=False))


def summarise(study: optuna.Study, exp: ExperimentSpec, storage: Path, spec: TuneSpec, objectives: tuple[str, ...],
              dirs: tuple[Direction, ...], seconds: float) -> StudySummary:
    rows = tuple(_row(t) for t in study.get_trials(deepcopy=False))
    return StudySummary(
        experiment=exp.name, storage=storage, objectives=objectives, directions=dirs, sampler=spec.sampler_name,
        pruner=spec.pruner_spec.name, trials=rows, best=best_trials(study, len(objectives)),
        untuned_value=study.user_attrs.get("untuned_value"), seconds=seconds,
    )


def best_trials(study: optuna.Study, n_objectives: int, limit: int = 5) -> tuple[int, ...]:
    """The best trial's number; with two objectives, up to ``limit`` trials of the Pareto front spread along
    it, the best by the first objective first."""
    from optuna.trial import TrialState as State

    if not study.get_trials(deepcopy=False, states=(State.COMPLETE,)):
        return ()
    if n_objectives == 1:
        return (study.best_trial.number,)
    sign = 1 if study.directions[0].name == "MAXIMIZE" else -1
    front = sorted(study.best_trials, key=lambda t: (-sign * t.values[0], t.values[1]))
    if len(front) > limit:  # evenly spaced along the front, both ends kept
        front = [front[round(i * (len(front) - 1) / (limit - 1))] for i in range(limit)]
    return tuple(t.number for t in front if trial_config(t) is not None)


def _row(t: optuna.trial.FrozenTrial) -> TrialRow:
    state: TrialState = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
                         "WAITING": "waiting"}[t.state.name]  # type: ignore[assignment]
    note = ("interrupted; re-run as a later trial" if t.user_attrs.get(INTERRUPTED)
            else str(t.user_attrs.get("error", "")))
    return TrialRow(number=t.number, state=state, values=tuple(t.values) if t.values else None,
                    epochs=t.user_attrs.get(EPOCHS_TRAINED), params=dict(t.params),
                    untuned=bool(t.user_attrs.get(UNTUNED)), note=note)


def describe_trial(t: optuna.trial.FrozenTrial, objectives: tuple[str, ...]) -> str:
    epochs = t.user_attrs.get(EPOCHS_TRAINED)
    trained = f", {epochs} epoch{'s' if epochs != 1 else ''}" if epochs is not None else ""
    if t.state.name == "COMPLETE" and t.values:
        shown = ", ".join(f"{name} {value:.4g}" for name, value in zip(objectives, t.values, strict=True))
        return f"trial {t.number} complete: {shown}{trained}{' (as declared)' if t.user_attrs.get(UNTUNED) else ''}"
    error = f": {t.user_attrs['error']}" if t.user_attrs.get("error") else ""
    return f"trial {t.number} {t.state.name.lower()}{trained}{error}"
