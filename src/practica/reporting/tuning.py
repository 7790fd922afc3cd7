"""The report's tuning section: one block per study found in RUN_DIR/tuning/<experiment>.db.

Each study is read through optuna's own API (``optuna.load_study``, read-only) and shown as the budget
and what was spent, the best value against the untuned recipe, a table of every trial (pruned ones
marked, with the epoch they stopped at), the optimisation history, the parameter importances (fANOVA)
and, for a multi-objective study, the Pareto front with the selection policy's pick on it.

What the study holds is the tune stage's contract (team contract "tuning storage"): study_name is the
experiment's name; ``study.user_attrs``: objectives, budget, sampler, pruner, untuned_value, and
``experiments`` ({run experiment: trial number}, written once the study is done); each trial's
``user_attrs``: epochs_trained, latency_p50_ms or size_mb (multi-objective), config, and ``untuned`` on
the trial that trained the experiment as declared. Without ``experiments`` (an older or interrupted
study) the names say it: ``<name>-tuned`` is the best trial (two objectives: the front's best on the
first), ``<name>-pareto-<trial>`` a front point. A study that cannot be read is one line in the report,
never a failed report.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from practica.reporting import humanize as h
from practica.reporting import tuning_plots as tp
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.reporting.context import Image
    from practica.results import ExperimentResult, SuiteRun

TUNING_DIR = "tuning"  # RUN_DIR/tuning/<experiment>.db: the tune stage writes there
LATENCY = "latency_p50_ms"  # the cost objectives a multi-objective study may have second
SIZE = "size_mb"
MIN_FOR_IMPORTANCE = 3  # complete trials fANOVA needs before its shares mean anything
PARAMS_SHOWN = 6  # parameters per row of the trials table, the rest counted


@dataclass(frozen=True)
class Objective:
    """One objective of a study, as the report names and prints it."""

    name: str
    label: str
    higher_is_better: bool
    show: Callable[[float | None], str]
    share: bool = False
    axis: str = ""  # a figure's axis label, when it differs from ``label``


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # "complete", "pruned", "failed", "running", "waiting"
    cells: tuple[str, ...]  # in the order of the section's ``columns``
    mark: str = ""  # "best", "front", "front · the policy's pick"


@dataclass(frozen=True)
class StudySection:
    experiment: str
    problem: str = ""  # why the study could not be read; then nothing else is set
    facts: tuple[tuple[str, str], ...] = ()
    headline: str = ""
    columns: tuple[str, ...] = ()
    trials: tuple[TrialRow, ...] = ()
    history: Image | None = None
    history_caption: str = ""
    importances: Image | None = None
    importance_note: str = ""  # why there are no importances, when there are none
    front: Image | None = None
    pick: str = ""  # which trial the policy picked among the study's experiments, and why
    in_run: tuple[tuple[str, str, str, str, str, str], ...] = ()  # experiment, trial, value, p50, status, reason
    value_header: str = ""  # the policy metric's column of ``in_run``

    @property
    def images(self) -> tuple[Image, ...]:
        return tuple(i for i in (self.history, self.importances, self.front) if i is not None)


@dataclass(frozen=True)
class Trial:
    """What the report reads of one optuna trial, so nothing past ``_read`` touches optuna's objects."""

    number: int
    state: str
    values: tuple[float, ...] | None
    params: dict[str, Any]
    epochs: int | None
    last: tuple[int, float] | None  # the last (epoch, value) it reported: where a pruned trial stopped
    started: datetime | None
    finished: datetime | None
    untuned: bool  # the experiment as declared (the tune stage's trial 0)
    resumes: int | None  # the trial whose checkpoint this one continued (a kill interrupted it)
    error: str  # why a failed trial failed; "interrupted" for one a kill or Ctrl-C stopped


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    attrs: dict[str, Any]
    maximize: tuple[bool, ...]
    trials: tuple[Trial, ...]
    importances: tuple[tuple[str, float], ...]
    importance_note: str


def tuning_sections(run: SuiteRun) -> tuple[StudySection, ...]:
    """One section per RUN_DIR/tuning/*.db, in name order; none when the run was not tuned."""
    folder = Path(run.run_dir) / TUNING_DIR
    paths = sorted(folder.glob("*.db")) if folder.is_dir() else []
    if paths and importlib.util.find_spec("optuna") is None:
        return tuple(StudySection(path.stem, problem=(
            f"{TUNING_DIR}/{path.name} holds a tuning study, but optuna is not installed where this report was "
            "written: install optuna and write the report again to see it.")) for path in paths)
    sections = []
    for path in paths:
        try:
            sections.append(_section(_read(path), run))
        except Exception as e:  # a damaged or foreign study must not cost the whole report
            first = _first_line(str(e), 200) or "no message"
            sections.append(StudySection(path.stem, problem=(
                f"The study in {TUNING_DIR}/{path.name} could not be read ({type(e).__name__}: {first}); "
                "its trials are left out of this report. The experiments it added to the run are shown as usual.")))
    return tuple(sections)


# ---------------------------------------------------------------------------------------- reading


def _read(path: Path) -> Study:
    """The study named after the file, opened read-only: writing a report never alters a study."""
    import optuna
    from optuna.trial import TrialState

    url = f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"
    storage = optuna.storages.RDBStorage(url)
    try:
        names = optuna.get_all_study_names(storage)
        if path.stem not in names:  # optuna's own KeyError says only 'Record does not exist.'
            raise ValueError(f"it holds no study named {path.stem!r}, only {', '.join(map(repr, names)) or 'none'}; "
                             "the tune stage names each study after its experiment and its file")
        study = optuna.load_study(study_name=path.stem, storage=storage)
        multi = len(study.directions) > 1
        trials = tuple(_trial(t, TrialState) for t in study.get_trials(deepcopy=False))
        maximize = tuple(d == optuna.study.StudyDirection.MAXIMIZE for d in study.directions)
        shares, note = _importances(study, sum(t.state == "complete" for t in trials), multi)
        return Study(path.stem, path, dict(study.user_attrs), maximize, trials, shares, note)
    finally:
        storage.engine.dispose()


def _trial(t, states) -> Trial:
    state = {states.COMPLETE: "complete", states.PRUNED: "pruned", states.FAIL: "failed",
             states.RUNNING: "running", states.WAITING: "waiting"}.get(t.state, str(t.state).lower())
    values = tuple(float(v) for v in t.values) if t.values is not None else None
    steps = sorted(t.intermediate_values.items())
    attrs = t.user_attrs
    epochs = attrs.get("epochs_trained")
    return Trial(
        number=t.number, state=state, values=values, params=dict(t.params),
        epochs=int(epochs) if isinstance(epochs, int | float) else (steps[-1][0] if steps else None),
        last=(int(steps[-1][0]), float(steps[-1][1])) if steps else None,
        started=t.datetime_start, finished=t.datetime_complete,
        untuned=bool(attrs.get("untuned")),
        resumes=attrs["resume_of"] if isinstance(attrs.get("resume_of"), int) else None,
        error="interrupted" if attrs.get("interrupted") else str(attrs.get("error") or ""),
    )


def _importances(study, complete: int, multi: bool) -> tuple[tuple[tuple[str, float], ...], str]:
    """fANOVA's share per parameter (seeded: the same study reads the same); a note instead when it cannot say."""
    import optuna

    if complete < MIN_FOR_IMPORTANCE:
        return (), (f"Parameter importances need at least {MIN_FOR_IMPORTANCE} complete trials; "
                    f"this study has {complete}.")
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=(lambda t: t.values[0]) if multi else None)
    except Exception as e:  # fANOVA refuses some studies (one parameter value throughout, a dynamic space)
        return (), f"Parameter importances could not be computed ({type(e).__name__}: {str(e)[:160]})."
    shares = tuple((name, float(v)) for name, v in found.items() if math.isfinite(v))
    if not shares:
        return (), "Parameter importances could not be computed: the study searched no parameter."
    return shares, ""


# ---------------------------------------------------------------------------------------- the section


def _objectives(study: Study, run: SuiteRun) -> tuple[Objective, ...]:
    names = study.attrs.get("objectives")
    if not isinstance(names, list) or len(names) != len(study.maximize):
        names = [f"objective {i + 1}" for i in range(len(study.maximize))]
    task = get_task(run.splits.train.task)
    out = []
    for name, maximize in zip(names, study.maximize, strict=True):
        if name == LATENCY:
            out.append(Objective(name, "median latency", False, h.ms,
                                 axis="median (p50) latency measured in the trial (ms)"))
            continue
        if name == SIZE:
            out.append(Objective(name, "size", False, lambda v: h.size(None if v is None else v * 1e6),
                                 axis="model size (MB)"))
            continue
        try:
            m = task.metric(name)
            out.append(Objective(name, m.label, maximize, m.show, m.share))
        except ValueError:
            label = str(name).replace("_", " ")
            out.append(Objective(name, label, maximize,
                                 lambda v: h.DASH if v is None or not math.isfinite(v) else f"{v:.4g}", axis=label))
    return tuple(out)


def _front(trials: list[Trial], maximize: tuple[bool, ...]) -> list[Trial]:
    """The non-dominated complete trials (one objective: the best one)."""
    sign = [1.0 if m else -1.0 for m in maximize]
    scored = [(t, [s * v for s, v in zip(sign, t.values, strict=True)]) for t in trials
              if t.values is not None and all(math.isfinite(v) for v in t.values)]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))

    return [t for t, a in scored if not any(dominates(b, a) for _, b in scored)]


def _trial_of(experiment: str, study: Study, best: Trial | None) -> Trial | None:
    """The trial a run experiment came from: the study's ``experiments`` record, else the names (module
    docstring). ``best``: the best trial (two objectives: the front's best on the first)."""
    by_number = {t.number: t for t in study.trials}
    recorded = study.attrs.get("experiments")
    if isinstance(recorded, dict):
        number = recorded.get(experiment)
        return by_number.get(number) if isinstance(number, int) else None
    found = re.fullmatch(re.escape(study.name) + r"-pareto-(\d+)", experiment)
    if found:
        return by_number.get(int(found.group(1)))
    return best if experiment == f"{study.name}-tuned" else None


def _section(study: Study, run: SuiteRun) -> StudySection:
    from practica.reporting.context import Image

    objectives = _objectives(study, run)
    metric = objectives[0]
    multi = len(objectives) > 1
    trials = list(study.trials)
    complete = [t for t in trials if t.state == "complete" and t.values is not None]
    pruned = [t for t in trials if t.state == "pruned"]
    front = _front(complete, study.maximize)
    pick_best = max if study.maximize[0] else min  # the front's best on the first objective (one: the best)
    best = pick_best(front, key=lambda t: (t.values or (math.nan,))[0]) if front else None
    mapped = [(r, t) for r in run.results if (t := _trial_of(r.name, study, best)) is not None]
    picked = next((t for r, t in mapped if r.name == run.decision.chosen), None)
    untuned = study.attrs.get("untuned_value")
    untuned = float(untuned) if isinstance(untuned, int | float) else None
    key = re.sub(r"[^A-Za-z0-9_.-]+", "-", study.name)

    history = None
    if complete or pruned:
        dots = [tp.Dot(t.number, t.values[0]) for t in complete if t.values and math.isfinite(t.values[0])]
        stops = [tp.Dot(t.number, t.last[1]) for t in pruned if t.last is not None and math.isfinite(t.last[1])]
        if dots or stops:
            history = Image(f"tuning-history-{key}", f"Optimisation history of the {study.name} study",
                            tp.history(dots, stops, objective=metric, untuned=untuned))
    importances = None
    if study.importances:
        importances = Image(f"tuning-importances-{key}", f"Parameter importances in the {study.name} study",
                            tp.importances(study.importances,
                                           title=f"What moved {metric.label} (fANOVA)"))
    front_image = None
    rejected = {x.experiment for x in run.decision.ranking if x.status == "rejected"}
    if multi:
        def dot(t: Trial) -> tp.Dot:
            assert t.values is not None  # complete trials only
            return tp.Dot(t.number, t.values[0], t.values[1])

        experiment = next((r.name for r, t in mapped if t is picked), "")
        png = tp.front([dot(t) for t in complete], [dot(t) for t in front], objective=metric, cost=objectives[1],
                       pick=dot(picked) if picked is not None and picked.values else None,
                       ruled_out=[dot(t) for r, t in mapped if t.values and r.name in rejected],
                       pick_label=f"trial {picked.number}: {experiment}" if picked else "")
        if png is not None:
            front_image = Image(f"tuning-front-{key}", f"Pareto front of the {study.name} study", png)

    columns, rows = _table(trials, objectives, front, picked, multi)
    return StudySection(
        experiment=study.name,
        facts=_facts(study, objectives, trials),
        headline=_headline(study.name, metric, objectives, complete, front, untuned, multi),
        columns=columns,
        trials=rows,
        history=history,
        history_caption=("Blue: each complete trial's final value; orange: the best so far"
                         + ("; grey crosses: pruned trials, at the last epoch they reported." if pruned else ".")),
        importances=importances,
        importance_note=study.importance_note,
        front=front_image,
        pick=_pick(run, mapped, picked, multi),
        in_run=tuple(_in_run(run, r, t) for r, t in sorted(mapped, key=lambda m: _place(run, m[0].name))),
        value_header=get_task(run.splits.train.task).metric(run.decision.metric).label.capitalize(),
    )


def _facts(study: Study, objectives: tuple[Objective, ...], trials: list[Trial]) -> tuple[tuple[str, str], ...]:
    attrs = study.attrs
    states = {s: sum(t.state == s for t in trials) for s in ("complete", "pruned", "failed", "running", "waiting")}
    counts = ", ".join(f"{n} {s}" for s, n in states.items() if n)
    aims = " against ".join(f"{o.label} ({'higher' if o.higher_is_better else 'lower'} is better)"
                            for o in objectives)
    sampler = {"tpe": "TPE", "nsga2": "NSGA-II"}.get(str(attrs.get("sampler")), str(attrs.get("sampler") or "?"))
    pruner = attrs.get("pruner")
    pruning = (f"{str(pruner).replace('_', ' ')} pruner on the per-epoch {objectives[0].label}"
               if pruner and pruner != "none" else "no pruning")
    if len(objectives) > 1:
        pruning = "no pruning (optuna prunes single-objective studies only)"
    epochs = [(t.state, t.epochs) for t in trials if t.epochs is not None]
    spent = sum(e for _, e in epochs)
    in_pruned = sum(e for s, e in epochs if s == "pruned")
    facts = [
        ("Objective", aims),
        ("Search", f"{sampler} sampler, {pruning}"),
        ("Budget", _budget(attrs.get("budget"))),
        ("Trials", f"{len(trials)} run: {counts}" if trials else "none run"),
    ]
    if epochs:
        facts.append(("Epochs trained", f"{spent:,} in all" + (f", {in_pruned:,} of them in pruned trials"
                                                                if states["pruned"] else "")))
    facts.append(("Wall time", _wall_time(trials)))
    facts.append(("Study", f"{TUNING_DIR}/{study.path.name}; open it with "
                           f"optuna-dashboard sqlite:///{TUNING_DIR}/{study.path.name} (from the run folder)"))
    return tuple(facts)


def _budget(budget: object) -> str:
    if not isinstance(budget, dict) or not budget:
        return "not recorded"
    parts = []
    for k, v in budget.items():
        if v is None:
            continue
        if k in ("trials", "n_trials"):
            parts.append(h.plural(v, "trial"))
        elif isinstance(v, int | float) and k in ("seconds", "timeout", "timeout_s", "wall_time_s", "time_s"):
            parts.append(h.duration(v))
        elif isinstance(v, int | float) and k in ("minutes", "timeout_min", "wall_time_min"):
            parts.append(h.duration(60 * v))
        elif isinstance(v, int | float) and k in ("hours", "wall_time_h"):
            parts.append(h.duration(3600 * v))
        else:
            parts.append(f"{str(k).replace('_', ' ')} {v}")
    return " or ".join(parts) + (", whichever came first" if len(parts) > 1 else "") if parts else "not recorded"


def _wall_time(trials: list[Trial]) -> str:
    starts = [t.started for t in trials if t.started is not None]
    ends = [t.finished for t in trials if t.finished is not None]
    if not starts or not ends:
        return h.DASH
    wall = (max(ends) - min(starts)).total_seconds()
    own = sum((t.finished - t.started).total_seconds() for t in trials if t.started and t.finished)
    return h.duration(wall) + (f" (the trials' own time adds up to {h.duration(own)}: they ran side by side)"
                               if own > 1.2 * wall else "")


def _headline(name: str, metric: Objective, objectives: tuple[Objective, ...], complete: list[Trial],
              front: list[Trial], untuned: float | None, multi: bool) -> str:
    if not complete:
        return "No trial completed, so the study has no best value yet."
    against = (f" The untuned {name} scored {metric.show(untuned)}." if untuned is not None
               else " The study recorded no untuned value to compare with.")
    if multi:
        cost = objectives[1]
        ends = sorted(front, key=lambda t: t.values[1] if t.values is not None else math.inf)
        lo, hi = ends[0].values, ends[-1].values
        assert lo is not None and hi is not None  # front trials are complete
        return (f"The Pareto front has {h.plural(len(front), 'trial')} of {len(complete)} complete: {metric.label} "
                f"from {metric.show(lo[0])} at {cost.show(lo[1])} to {metric.show(hi[0])} at {cost.show(hi[1])} "
                f"{cost.label}.{against}")
    best = front[0]
    assert best.values is not None
    value = best.values[0]
    text = f"Best {metric.label} {metric.show(value)}, trial {best.number}"
    if untuned is None:
        return text + "." + against
    gain = (value - untuned) * (1 if metric.higher_is_better else -1)
    size = metric.show(abs(value - untuned)) if not metric.share else h.points(abs(value - untuned))
    verdict = ("level with" if gain == 0 else f"{size} better than" if gain > 0 else f"{size} worse than")
    return f"{text}: {verdict} the untuned {name} ({metric.show(untuned)})."


def _table(trials: list[Trial], objectives: tuple[Objective, ...], front: list[Trial], picked: Trial | None,
           multi: bool) -> tuple[tuple[str, ...], tuple[TrialRow, ...]]:
    columns = ("Trial", "State", "Epochs", *(o.label.capitalize() for o in objectives), "Parameters")
    on_front = {t.number for t in front}
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        marks = ["untuned (as declared)" if t.untuned else "",
                 ("front" if multi else "best") if t.number in on_front else "",
                 "the policy's pick" if picked is not None and t.number == picked.number else ""]
        mark = " · ".join(m for m in marks if m)
        state = t.state
        if t.state == "pruned" and t.last is not None:
            state = f"pruned after epoch {t.last[0]} ({objectives[0].show(t.last[1])})"
        elif t.state == "failed" and t.error:
            state = "interrupted" if t.error == "interrupted" else f"failed: {_first_line(t.error, 80)}"
        if t.resumes is not None:
            state += f", resumed from trial {t.resumes}'s checkpoint"
        # A pruned trial's value is only its last epoch's (what optuna keeps): the state says it, with that epoch.
        values = (tuple(o.show(v) for o, v in zip(objectives, t.values, strict=True))
                  if t.values is not None and t.state == "complete" else tuple(h.DASH for _ in objectives))
        rows.append(TrialRow(t.number, t.state, (str(t.number), state,
                                                 str(t.epochs) if t.epochs is not None else h.DASH,
                                                 *values, _params(t.params)), mark))
    return columns, tuple(rows)


def _first_line(text: str, width: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _params(params: dict[str, Any]) -> str:
    def show(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    shown = [f"{k} {show(v)}" for k, v in list(params.items())[:PARAMS_SHOWN]]
    more = len(params) - PARAMS_SHOWN
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "") if shown else h.DASH


def _pick(run: SuiteRun, mapped: list[tuple[ExperimentResult, Trial]], picked: Trial | None, multi: bool) -> str:
    ranked = {r.experiment: r for r in run.decision.ranking}
    what = "front point" if multi else "trial"
    if not mapped:
        return (f"No {what} of this study was added to the run as an experiment, so the selection policy "
                "had none of its trials to choose from.")
    if picked is not None:
        chosen = run.decision.chosen or ""
        reason = ranked[chosen].reason if chosen in ranked else ""
        return (f"The selection policy picked {chosen} (trial {picked.number}) for production"
                + (f": {reason}." if reason else "."))
    if run.decision.chosen is None:
        return f"The selection policy chose no model, so no {what} of this study goes to production."
    top, _ = min(mapped, key=lambda m: _place(run, m[0].name))
    why = ranked[top.name].reason if top.name in ranked else "not ranked"
    return (f"The selection policy chose {run.decision.chosen}, which is not from this study; its best-placed "
            f"{what}, {top.name}, was not chosen: {why}.")


def _place(run: SuiteRun, experiment: str) -> int:
    """Where ``experiment`` stands in the decision's ranking (the chosen first); unranked ones last."""
    order = [x.experiment for x in run.decision.ranking]
    return order.index(experiment) if experiment in order else len(order)


def _in_run(run: SuiteRun, r: ExperimentResult, t: Trial) -> tuple[str, str, str, str, str, str]:
    ranked = {x.experiment: x for x in run.decision.ranking}
    if r.status != "ok":
        return (r.name, str(t.number), h.DASH, h.DASH, "failed", "")
    metric = get_task(run.splits.train.task).metric(run.decision.metric)
    x = ranked.get(r.name)
    return (r.name, str(t.number), metric.show(metric.value(r.evaluation.val)),
            h.ms(r.evaluation.cost.latency_p50_ms), x.status if x else "not ranked", x.reason if x else "")
