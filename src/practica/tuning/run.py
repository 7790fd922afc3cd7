"""``practica tune``: the studies of a suite's tuned experiments, then the suite's run with their best.

The run directory is an ordinary run's (``runs/<suite>/<run-id>/``) with a ``tuning/`` folder::

    tuning/suite.yaml              the suite as given (a resume is checked against it)
    tuning/<experiment>.db         the study (SQLite; optuna-dashboard sqlite:///… opens it)
    tuning/<experiment>/trial-<n>/ each trial's checkpoint, weights and result
    tuning/<experiment>-tuned.yaml the best trial's resolved experiment (two objectives: the front's
                                   trials as <experiment>-pareto-<trial>.yaml beside it)

After the studies the run's suite gains ``<experiment>-tuned`` (and the Pareto experiments), and the run
goes on as ``practica run`` does: diagnosis, selection, report and bundle treat them like any other. The
declared experiment and the tuned one are taken from their trials' folders, not trained again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from practica.config.load import suite_from_dict
from practica.config.schema import ExperimentSpec, Suite
from practica.errors import ConfigError, RunError
from practica.execution import Executor
from practica.execution.local import LocalExecutor
from practica.io import read_json, write_text
from practica.pipeline.rundir import ExperimentDir, RunDir, resolved_yaml
from practica.pipeline.suite import Reporter, preflight, run_suite
from practica.results import SuiteRun
from practica.tuning.dispatch import search
from practica.tuning.objective import RESUME_OF, TUNING_DIR, UNTUNED, trial_config, trial_folder
from practica.tuning.records import StudySummary
from practica.tuning.study import directions, open_study, study_storage, summarise

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from practica.data.records import Splits

# What a trial's folder gives the run's experiment folder: the result and what it rests on, checksums too.
_ADOPTED = ("result.json", "model.safetensors", "predictions.npz", "history.csv")


@dataclass(frozen=True)
class TuneRun:
    run_dir: Path
    studies: tuple[StudySummary, ...]
    suite_run: SuiteRun


def tuned_names(suite: Suite, experiment: str | None) -> list[ExperimentSpec]:
    """The experiments to tune: ``experiment``, or every one with a ``tune:`` block."""
    tuned = [e for e in suite.experiments if e.tune is not None]
    if experiment is not None:
        exp = next((e for e in suite.experiments if e.name == experiment), None)
        if exp is None or exp.tune is None:
            why = "has no experiment named" if exp is None else "has no tune: block in experiment"
            raise ConfigError(f"suite '{suite.name}' {why} '{experiment}'; its experiments with a tune: block are: "
                              f"{', '.join(e.name for e in tuned) or 'none'}")
        return [exp]
    if not tuned:
        raise ConfigError(f"suite '{suite.name}' has no experiment with a tune: block; add one to an experiment, "
                          "e.g. tune: {space: {train.optimizer.lr: {float: [0.0001, 0.1], log: true}}} "
                          "(docs/tuning.md)")
    return tuned


def tune_suite(
    suite: Suite, *, experiment: str | None = None, runs_root: Path = Path("runs"), resume: bool = False,
    run_id: str | None = None, trials: int | None = None, minutes: float | None = None,
    say: Callable[[str], None] = lambda _: None, reporter: Reporter | None = None,
    on_study: Callable[[StudySummary], None] = lambda _: None, executor: Executor | None = None, batch: int = 1,
) -> TuneRun:
    """Tune ``experiment`` (or every experiment with a ``tune:`` block) of ``suite``, then run the suite with
    the tuned experiments added. ``trials``, ``minutes``: the budget, over the suite's. ``resume``: continue
    the newest (or ``run_id``) tuning run of the suite, its studies and their interrupted trials.
    ``executor``: what trains the trials (default: this process), ``batch`` trials asked of the sampler at
    once (``dispatch.trial_executor`` gives both); the suite's run after the studies uses it too."""
    targets = tuned_names(suite, experiment)
    _need_optuna()
    from practica.data import prepare_data

    run = _find(runs_root, suite, run_id) if resume else _create(runs_root, suite)
    say(f"Run directory {run.path}")
    run.update_status(run_id=run.id, suite=suite.name, status="tuning")
    say(f"Loading data ({suite.dataset.source})")
    splits = prepare_data(suite.dataset)
    preflight(suite, splits)  # the objective metric against the data's task too, before any training
    metric = suite.selection.for_task(splits.train.task).metric
    assert metric is not None  # for_task resolves it
    studies: list[StudySummary] = []
    added: list[ExperimentSpec] = []
    for exp in targets:
        summary, chosen = _tune_experiment(exp, suite, splits, run, metric, trials=trials, minutes=minutes, say=say,
                                           executor=executor or LocalExecutor(), batch=batch)
        if not chosen:
            say(f"{exp.name}: no trial completed, so no tuned experiment joins the run")
        studies.append(summary)
        added += chosen
        on_study(summary)
    extended = _with_experiments(suite, added, run)
    write_text(run.suite_file, resolved_yaml(extended))
    suite_run = run_suite(extended, runs_root=runs_root, resume=True, run_id=run.id, reporter=reporter,
                          executor=executor)
    return TuneRun(run_dir=run.path, studies=tuple(studies), suite_run=suite_run)


def _tune_experiment(exp: ExperimentSpec, suite: Suite, splits: Splits, run: RunDir, metric: str, *,
                     trials: int | None, minutes: float | None, say: Callable[[str], None], executor: Executor,
                     batch: int) -> tuple[StudySummary, list[ExperimentSpec]]:
    """One experiment's study, searched within budget; its summary and the experiments it adds to the run."""
    assert exp.tune is not None
    spec = exp.tune
    objectives = spec.objectives(metric)
    dirs = directions(objectives, splits.train.task)
    storage = study_storage(run.path / TUNING_DIR, exp.name)
    budget_trials = trials if trials is not None else spec.budget.trials
    budget_minutes = minutes if minutes is not None else spec.budget.minutes
    study = open_study(storage, exp, spec, objectives, dirs, {"trials": budget_trials, "minutes": budget_minutes})
    budget = " or ".join(x for x in (f"{budget_trials} trials" if budget_trials else "",
                                     f"{budget_minutes:g} minutes" if budget_minutes else "") if x)
    say(f"Tuning {exp.name}: {', '.join(f'{d} {o}' for o, d in zip(objectives, dirs, strict=True))}; "
        f"{spec.sampler_name} sampler, pruner {spec.pruner_spec.name}; budget {budget}; study {storage}")
    study_dir = run.path / TUNING_DIR / exp.name
    seconds = search(study, exp, suite, splits, run_path=run.path, storage=storage, objectives=objectives,
                     executor=executor, batch=batch, trials=budget_trials, minutes=budget_minutes, say=say)
    summary = summarise(study, exp, storage, spec, objectives, dirs, seconds)
    chosen = _tuned_experiments(study, summary, exp, suite, run, study_dir)
    study.set_user_attr("experiments", {e.name: n for e, n in zip(chosen, summary.best, strict=True)})
    return replace(summary, tuned_experiments=tuple(e.name for e in chosen)), chosen


def _need_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("practica tune needs Optuna, which is not installed; install it with: "
                          "pip install 'practica[tune]'") from None


def _create(runs_root: Path, suite: Suite) -> RunDir:
    run = RunDir.create(runs_root, suite)
    write_text(run.path / TUNING_DIR / "suite.yaml", resolved_yaml(suite))
    return run


def _find(runs_root: Path, suite: Suite, run_id: str | None) -> RunDir:
    """The tuning run to continue: ``run_id``, else the newest run of ``suite`` with a tuning folder; it must
    have been started with the same suite."""
    base = runs_root / suite.name
    runs = sorted(p for p in base.glob("*") if (p / TUNING_DIR / "suite.yaml").is_file()) if base.is_dir() else []
    if run_id is not None:
        runs = [p for p in runs if p.name == run_id]
    if not runs:
        which = f"run '{run_id}'" if run_id else "run"
        raise RunError(f"nothing to resume: no tuning {which} of suite '{suite.name}' under {base}. "
                       "Drop --resume to start one.")
    run = RunDir(runs[-1])
    if (run.path / TUNING_DIR / "suite.yaml").read_text(encoding="utf-8") != resolved_yaml(suite):
        raise RunError(f"the suite changed since tuning run {run.id} began ({run.path / TUNING_DIR / 'suite.yaml'} "
                       "holds the version it used); restore it, or drop --resume to start a new run.")
    return run


def _tuned_experiments(study: optuna.Study, summary: StudySummary, exp: ExperimentSpec, suite: Suite, run: RunDir,
                       study_dir: Path) -> list[ExperimentSpec]:
    """The best trial as ``<exp>-tuned`` (two objectives: the front's best by the first objective; each other
    trial of the front as ``<exp>-pareto-<trial>``), each written to ``tuning/<name>.yaml`` and given its
    trial's trained result; and the declared experiment given trial 0's, when that trained it unchanged."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    out: list[ExperimentSpec] = []
    for rank, number in enumerate(summary.best):
        trial = trials[number]
        name = f"{exp.name}-tuned" if rank == 0 else f"{exp.name}-pareto-{number}"
        shown = ", ".join(f"{o} {v:.4g}" for o, v in zip(summary.objectives, trial.values, strict=True))
        config = trial_config(trial)
        assert config is not None  # best_trials keeps trials with a config
        spec = ExperimentSpec.model_validate({**config, "name": name, "description":
                                              f"{exp.name} tuned: trial {number} of its study ({shown})"})
        write_text(run.path / TUNING_DIR / f"{name}.yaml", yaml.safe_dump(spec.model_dump(mode="json"),
                                                                        sort_keys=False))
        _adopt(trial, study_dir, run.experiment(name), spec)
        out.append(spec)
    untuned = next((t for t in trials.values() if t.user_attrs.get(UNTUNED) and t.state.name == "COMPLETE"), None)
    if untuned is not None and (config := trial_config(untuned)) is not None:
        trained = ExperimentSpec.model_validate(config)
        if (trained.model, trained.train, suite.augment_for(trained)) == (exp.model, exp.train, suite.augment_for(exp)):
            _adopt(untuned, study_dir, run.experiment(exp.name), exp)
    return out


def _adopt(trial: FrozenTrial, study_dir: Path, dest: ExperimentDir, spec: ExperimentSpec) -> None:
    """Copy the trial's trained result into the run's experiment folder: the run keeps it as trained, its
    checksums checked as for any resumed run. A folder holding this experiment already is kept; one holding
    another (a resumed study found a better trial) is replaced."""
    source = trial_folder(study_dir, int(trial.user_attrs.get(RESUME_OF, trial.number)))
    if not (source / "result.json").is_file():
        return
    if dest.result.is_file() and dest.spec.is_file() and read_json(dest.spec) == spec.model_dump(mode="json"):
        return
    shutil.rmtree(dest.path, ignore_errors=True)
    dest.path.mkdir(parents=True, exist_ok=True)
    for name in _ADOPTED:
        for path in (source / name, source / f"{name}.sha256"):
            if path.is_file():
                shutil.copy2(path, dest.path / path.name)
    dest.write_spec(spec)


def _with_experiments(suite: Suite, added: list[ExperimentSpec], run: RunDir) -> Suite:
    """The suite with ``added`` experiments, validated as a suite file is (and as the run reads it back)."""
    names = {e.name for e in suite.experiments}
    clash = next((e.name for e in added if e.name in names), None)
    if clash is not None:
        raise ConfigError(f"the suite already has an experiment named '{clash}', the name of a tuned experiment; "
                          "rename it")
    extended = suite.model_copy(update={"experiments": [*suite.experiments, *added]})
    return suite_from_dict(yaml.safe_load(resolved_yaml(extended)), base_dir=run.path, origin=str(run.suite_file))
