"""Runs side by side: find the runs under a runs folder, read one back, compare several.

``practica runs list | show | compare`` are thin layers over these; the compare page
(``reporting.compare``) renders a ``Comparison``::

    from practica.runs import compare_runs, list_runs, read_run, resolve_run

    [e.run_id for e in list_runs(Path("runs"), "digits")]         # newest first
    a, b = (read_run(resolve_run(ref, Path("runs"))) for ref in ("20261203-165901", "20261203-170512"))
    [(d.key, d.change) for d in compare_runs([a, b]).differences]  # [('train.optimizer.lr', '0.001 → 0.003')]

Reading never trusts a run to be recent: a run from before a record existed (intervals, cost
intervals, a data fingerprint) reads with that field None, and the listing shows a dash for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from practica.errors import RunError
from practica.tasks import Metric, get_task
from practica.text import DASH, moment, ms

if TYPE_CHECKING:
    from practica.api import RunResult
    from practica.evaluation.records import Evaluation, Interval
    from practica.pipeline.rundir import RunDir
    from practica.training.history import History

SHOWN_CANDIDATES = 8  # runs an error lists when a RUN names none, or several
# The suite's keys compared as they are; ``experiments`` are compared one resolved spec.json at a time, which
# already holds ``defaults`` applied.
PER_EXPERIMENT = ("experiments", "defaults")
# What of ``train`` a scikit-learn baseline uses (``pipeline.experiment``): the rest (optimizer, epochs…) is
# inherited from the defaults and ignored, so a change there is no change to the baseline.
BASELINE_TRAIN_KEYS = ("seed", "class_weight", "max_samples")


# ----------------------------------------------------------------------------- finding runs


@dataclass(frozen=True)
class RunEntry:
    """One run as ``practica runs list`` shows it; a field the run never recorded is None."""

    path: Path
    run_id: str
    suite: str
    started: str | None  # ISO time, from run.json
    status: str  # run.json's: running, complete, partial, failed, interrupted; "unknown" without one
    chosen: str | None
    metric: Metric | None  # the selection's, as the task names and shows it
    value: float | None  # the chosen experiment's validation figure on that metric
    interval: Interval | None
    seconds: float | None  # wall time: from the start to the last record the run wrote (a resume's pause counts)

    @property
    def label(self) -> str:
        return f"{self.suite}/{self.run_id}"


def run_dirs(root: Path) -> list[Path]:
    """Every run directory (``is_run``) at ``root/<suite>/<run-id>``, or at ``root/<run-id>`` when ``root`` is
    one suite's folder, newest id first. A missing ``root`` is a RunError naming it."""
    if not root.is_dir():
        raise RunError(f"no runs folder {root}: it does not exist or is not a folder; give the folder practica run "
                       "wrote to with --runs-dir (default: runs)")
    found = [p for p in (*root.glob("*/*"), *root.glob("*")) if is_run(p)]
    return sorted(found, key=lambda p: (p.name, p.parent.name), reverse=True)


def is_run(path: Path) -> bool:
    """``path`` is a run directory: its suite.yaml beside run.json or experiments/ (a bundle has a suite.yaml
    of its own)."""
    return (path / "suite.yaml").is_file() and ((path / "run.json").is_file() or (path / "experiments").is_dir())


def list_runs(root: Path, suite: str | None = None) -> list[RunEntry]:
    """The runs under ``root`` (of ``suite`` only, when given), newest first. A suite with no run is a
    RunError that names the suites there are."""
    paths = run_dirs(root)
    if suite is not None:
        mine = [p for p in paths if p.parent.name == suite]
        if not mine:
            suites = sorted({p.parent.name for p in paths})
            raise RunError(f"no run of suite '{suite}' under {root}; "
                           + (f"its suites: {', '.join(suites)}" if suites else "it holds no run yet"))
        paths = mine
    return [entry(p) for p in paths]


def entry(path: Path) -> RunEntry:
    """What run.json, decision.json and the chosen experiment's metrics.json say of the run at ``path``."""
    from practica.pipeline.rundir import RunDir

    run = RunDir(path)
    status = _quietly(run.read_status) or {}
    decision = _quietly(run.read_decision) if run.decision_file.is_file() else None
    chosen = decision.chosen if decision is not None else status.get("chosen")
    metric = value = interval = None
    if decision is not None:
        evaluation = _quietly(run.experiment(chosen).read_evaluation) if chosen else None
        task = evaluation.task if evaluation is not None else _task_of(run)
        metric = _quietly(lambda: get_task(task).metric(decision.metric))
        if evaluation is not None and metric is not None:
            value, interval = metric.value(evaluation.val), evaluation.intervals.get(metric.name)
    started = status.get("started")
    return RunEntry(path=run.path, run_id=run.id, suite=status.get("suite") or path.parent.name, started=started,
                    status=status.get("status") or "unknown", chosen=chosen, metric=metric, value=value,
                    interval=interval, seconds=_wall_seconds(run, started))


def _quietly(read: Any) -> Any:
    """``read()``, or None when the record is missing or from a layout this version cannot read."""
    try:
        return read()
    except (OSError, ValueError, KeyError, TypeError):  # json and pydantic errors are ValueErrors
        return None


def _task_of(run: RunDir) -> str:
    summary = _quietly(lambda: json.loads(run.summary_file.read_text(encoding="utf-8")))
    return (summary or {}).get("task") or "classification"


def _wall_seconds(run: RunDir, started: str | None) -> float | None:
    """From run.json's start to the newest of the records a finished run writes last; None for a run
    still going or one that never recorded its start."""
    try:
        begun = datetime.fromisoformat(started).timestamp() if started else None
    except ValueError:
        return None
    ends = [p.stat().st_mtime for p in (run.path / "report.html", run.decision_file) if p.is_file()]
    return max(ends) - begun if begun is not None and ends else None


def resolve_run(ref: str | Path, root: Path) -> RunDir:
    """The run ``ref`` names: a run directory's path, or a run id (``20261203-170512``, a unique prefix of
    one, or ``suite/run-id``) under ``root``. A path that is no run, an unknown id or one that names
    several runs is a RunError that lists the candidates."""
    from practica.pipeline.rundir import RunDir

    path = Path(ref)
    if path.is_dir():
        if is_run(path):
            return RunDir(path)
        raise RunError(f"{path} is a folder but not a run directory (no suite.yaml beside run.json); give "
                       "runs/<suite>/<run-id>, or a run id that practica runs list shows")
    paths = run_dirs(root)
    text = str(ref).strip("/")
    exact = [p for p in paths if text in (p.name, f"{p.parent.name}/{p.name}")]
    found = exact or [p for p in paths if p.name.startswith(text) or f"{p.parent.name}/{p.name}".startswith(text)]
    if len(found) == 1:
        return RunDir(found[0])
    labels = [f"{p.parent.name}/{p.name}" for p in (found or paths)]
    shown = ", ".join(labels[:SHOWN_CANDIDATES]) + (f" … ({len(labels)} in all)" if len(labels) > SHOWN_CANDIDATES
                                                     else "")
    if found:
        raise RunError(f"'{ref}' names {len(found)} runs under {root}: {shown}; give one as suite/run-id or in full")
    raise RunError(f"no run '{ref}' under {root} (and no folder of that name)"
                   + (f"; the newest runs there: {shown}" if labels else "; it holds no run yet")
                   + ". Give a run id, suite/run-id or a run directory, or another --runs-dir")


# ----------------------------------------------------------------------------- reading one back


@dataclass(frozen=True)
class ExperimentView:
    """One experiment of a finished run, as the tables and the compare page show it."""

    name: str
    spec: Mapping[str, Any]  # spec.json: the experiment as the run resolved it (defaults applied)
    evaluation: Evaluation | None  # None when it failed
    train_seconds: float | None
    history: History | None  # None for a baseline (no epochs), or a failure
    verdict: str | None  # the diagnosis's
    standing: str  # chosen, not chosen, rejected (the decision's), failed, or not ranked
    reason: str  # the decision's reason, or the failure's error

    def figure(self, metric: Metric) -> tuple[float | None, Interval | None]:
        """The validation figure on ``metric`` and its interval; None for what is absent (a failure, an
        older run's interval)."""
        if self.evaluation is None:
            return None, None
        value = metric.value(self.evaluation.val)
        return (value if math.isfinite(value) else None), self.evaluation.intervals.get(metric.name)

    @property
    def latency(self) -> str:
        """The median latency with its interval, one unit for both: "0.21 ms (0.20–0.23)"; the median alone
        in a run from before the interval was measured; a dash for a failure."""
        if self.evaluation is None:
            return ms(None)
        cost = self.evaluation.cost
        ci = cost.latency_p50_interval
        if ci is None:
            return ms(cost.latency_p50_ms)
        return f"{ms(cost.latency_p50_ms)} ({ms(ci.low).removesuffix(' ms')}–{ms(ci.high).removesuffix(' ms')})"


@dataclass(frozen=True)
class RunView:
    """A finished run read back: ``result`` is ``practica.open_run``'s, the rest what comparing needs."""

    result: RunResult
    started: str | None
    seconds: float | None
    fingerprint: str | None  # of the data and its split; None in a run from before it was recorded
    code_version: str | None  # the practica that made the run (run.json)
    task: str
    settings: Mapping[str, Any]  # suite.yaml as resolved, without its experiments and defaults
    experiments: tuple[ExperimentView, ...]  # in the suite's order

    @property
    def label(self) -> str:
        return f"{self.result.suite}/{self.result.run_id}"

    @property
    def when(self) -> str:
        """When it started, as a list shows it: ``2026-12-03 16:02 UTC``."""
        return moment(self.started, seconds=False)

    @property
    def metric(self) -> Metric:
        """The metric this run's selection used."""
        return get_task(self.task).metric(self.result.decision.metric)

    def experiment(self, name: str) -> ExperimentView | None:
        return next((e for e in self.experiments if e.name == name), None)


def read_run(run: RunDir) -> RunView:
    """A run that reached its decision, read back (``practica.open_run``, with the specs, histories and
    train times); one that did not is a RunError with the command that finishes it."""
    from practica.api import open_run
    from practica.results import Trained

    result = open_run(run.path)
    suite = run.read_suite()
    ranks = {r.experiment: r for r in result.decision.ranking}
    experiments = []
    for exp in suite.experiments:
        exp_dir = run.experiment(exp.name)
        outcome = exp_dir.read_result(exp) if exp_dir.result.is_file() else None
        trained = outcome if isinstance(outcome, Trained) else None
        ranked = ranks.get(exp.name)
        failed = result.failed.get(exp.name)
        diagnosis = result.diagnoses.get(exp.name)
        experiments.append(ExperimentView(
            name=exp.name, spec=_quietly(lambda d=exp_dir: json.loads(d.spec.read_text(encoding="utf-8"))) or {},
            evaluation=result.metrics.get(exp.name), train_seconds=trained.train_seconds if trained else None,
            history=trained.history if trained else None, verdict=diagnosis.verdict if diagnosis else None,
            standing="failed" if failed is not None else ranked.status if ranked is not None else "not ranked",
            reason=failed if failed is not None else ranked.reason if ranked is not None else "",
        ))
    status = run.read_status()
    settings = yaml.safe_load(run.suite_file.read_text(encoding="utf-8")) or {}
    evaluations = [e.evaluation for e in experiments if e.evaluation is not None]
    return RunView(
        result=result, started=status.get("started"), seconds=_wall_seconds(run, status.get("started")),
        fingerprint=_quietly(run.data_fingerprint), code_version=status.get("code_version"),
        task=evaluations[0].task if evaluations else _task_of(run),
        settings={k: v for k, v in settings.items() if k not in PER_EXPERIMENT},
        experiments=tuple(experiments),
    )


# ----------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Difference:
    """A setting that differs between the runs: ``key`` flattened (``train.optimizer.lr``), one value per
    run ("—" where the run has no such key), and where: "suite", or the experiments that differ so."""

    key: str
    values: tuple[str, ...]
    where: tuple[str, ...]  # ("suite",) or experiment names

    @property
    def change(self) -> str:
        """``0.001 → 0.01``."""
        return " → ".join(self.values)


@dataclass(frozen=True)
class Contrast:
    """One experiment's figure in each run, and whether each later run differs from the first beyond noise."""

    experiment: str
    cells: tuple[ExperimentView | None, ...]  # one per run; None where the run has no such experiment
    calls: tuple[str, ...]  # per later run: its difference from the first run, in words


@dataclass(frozen=True)
class Comparison:
    runs: tuple[RunView, ...]
    metric: Metric  # the first run's selection metric, read in every run
    differences: tuple[Difference, ...]
    only_in: Mapping[str, tuple[str, ...]]  # experiment → the runs (labels) that have it, when not all do
    contrasts: tuple[Contrast, ...]  # every experiment of any run, in the first run's order, then the others'
    same_data: bool | None  # None when some run recorded no fingerprint
    notes: tuple[str, ...]  # what a reader must know to read the figures (different data, metrics, caveats)

    @property
    def names(self) -> tuple[str, ...]:
        """The runs' short names, in order: A, B, C…"""
        return letters(len(self.runs))

    @property
    def common(self) -> tuple[str, ...]:
        """The experiments every run has."""
        return tuple(c.experiment for c in self.contrasts if all(cell is not None for cell in c.cells))


def letters(n: int) -> tuple[str, ...]:
    """Short names of the compared runs, in order: A, B, C…"""
    return tuple(chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(n))


def compare_runs(runs: Sequence[RunView]) -> Comparison:
    """The runs side by side: their settings' differences, each experiment's figure with its interval in
    each run, and whether it moved beyond noise. Fewer than two runs, or runs of different tasks, is a
    RunError."""
    if len(runs) < 2:
        raise RunError(f"compare needs two runs or more; got {len(runs)}. Give another RUN, e.g. from "
                       "practica runs list")
    tasks = {r.task for r in runs}
    if len(tasks) > 1:
        raise RunError(f"these runs learned different tasks ({', '.join(sorted(tasks))}): their metrics do not "
                       "compare; give runs of one task")
    metric = runs[0].metric
    names = list(dict.fromkeys(e.name for r in runs for e in r.experiments))
    fingerprints = [r.fingerprint for r in runs]
    same_data = None if None in fingerprints else len(set(fingerprints)) == 1
    notes = _notes(runs, metric, same_data)
    contrasts = tuple(_contrast(name, runs, metric) for name in names)
    only_in = {name: tuple(r.label for r in runs if r.experiment(name) is not None) for name in names
               if any(r.experiment(name) is None for r in runs)}
    return Comparison(runs=tuple(runs), metric=metric, differences=differences(runs), only_in=only_in,
                      contrasts=contrasts, same_data=same_data, notes=notes)


def _notes(runs: Sequence[RunView], metric: Metric, same_data: bool | None) -> tuple[str, ...]:
    notes = []
    if same_data is False:
        prints = ", ".join(f"{name} {r.fingerprint[:12]}" for name, r in zip(letters(len(runs)), runs, strict=True)
                           if r.fingerprint)
        notes.append(f"The runs trained and were validated on different data (fingerprints {prints}): a figure "
                     "that moved may owe it to the data, not to the settings.")
    elif same_data is None:
        notes.append("Some run recorded no data fingerprint (a run from before it was kept): whether the runs "
                     "saw the same data is unknown.")
    if len({r.metric.name for r in runs}) > 1:
        notes.append(f"The runs selected on different metrics; every run is shown on the first's, "
                     f"{metric.label}.")
    pairing = ("the same validation samples (the fingerprints match), so checking the intervals' overlap is "
               "conservative: a paired test could find a smaller difference" if same_data
               else "different validation samples, so the intervals are compared unpaired")
    notes.append(f"Beyond noise means the two 95% intervals do not overlap: an approximate check, on {pairing}.")
    return tuple(notes)


def _contrast(name: str, runs: Sequence[RunView], metric: Metric) -> Contrast:
    cells = tuple(r.experiment(name) for r in runs)
    calls = tuple(noise_call(cells[0], later, metric, letters(len(runs))[0]) for later in cells[1:])
    return Contrast(experiment=name, cells=cells, calls=calls)


def noise_call(base: ExperimentView | None, other: ExperimentView | None, metric: Metric, base_name: str) -> str:
    """How ``other`` differs from ``base`` on ``metric``, in words: "beyond noise: 2.1 points higher",
    "within noise (intervals overlap)", or why it cannot be told."""
    if base is None or other is None:
        return "not in both runs"
    (a, a_ci), (b, b_ci) = base.figure(metric), other.figure(metric)
    if a is None or b is None:
        return "failed in one run"
    if a == b:
        return "the same figure"
    if a_ci is None or b_ci is None:
        return "no interval recorded: cannot tell"
    if a_ci.overlaps(b_ci):
        return f"within noise vs {base_name} (intervals overlap)"
    better = (b > a) == metric.higher_is_better
    return f"beyond noise vs {base_name}: {metric.difference(b - a)} {'better' if better else 'worse'}"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as dotted keys: ``{"train": {"optimizer": {"lr": 0.01}}}`` →
    ``{"train.optimizer.lr": 0.01}``; a list of plain values stays one value, a list of dicts (layers)
    gets an index per item (``model.layers.2.filters``)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list | tuple) and any(isinstance(v, Mapping | list | tuple) for v in value):
        out = {f"{prefix}.length": len(value)} if prefix else {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: value}


def setting(value: Any, present: bool = True) -> str:
    """A setting as the suite file would spell it: ``0.001``, ``true``, ``[128, 64]``, ``null``; a dash
    when the run has no such key."""
    if not present:
        return DASH
    return value if isinstance(value, str) else json.dumps(value)


def differences(runs: Sequence[RunView]) -> tuple[Difference, ...]:
    """The settings that differ: the suite's own (without experiments), then each experiment's resolved
    spec among the runs that have it (less what its model ignores, ``effective``). The same change in
    several experiments is one ``Difference``."""
    found: list[Difference] = [Difference(k, v, ("suite",)) for k, v in _differing([r.settings for r in runs])]
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for name in dict.fromkeys(e.name for r in runs for e in r.experiments):
        views = [r.experiment(name) for r in runs]
        if any(v is None for v in views):
            continue  # an experiment missing from a run is said once, in Comparison.only_in
        for key, values in _differing([effective(v.spec) for v in views if v is not None]):
            grouped.setdefault((key, values), []).append(name)
    found += [Difference(key, values, tuple(names)) for (key, values), names in grouped.items()]
    return tuple(found)


def effective(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """An experiment's spec without what its model ignores: a baseline's training settings beyond
    ``BASELINE_TRAIN_KEYS``."""
    if not (spec.get("model") or {}).get("sklearn") or not isinstance(spec.get("train"), Mapping):
        return spec
    return {**spec, "train": {k: v for k, v in spec["train"].items() if k in BASELINE_TRAIN_KEYS}}


def _differing(configs: Sequence[Mapping[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    flat = [flatten(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    out = []
    for key in keys:
        values = tuple(setting(f.get(key), key in f) for f in flat)
        if len(set(values)) > 1:
            out.append((key, values))
    return out

