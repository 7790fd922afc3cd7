"""The case study end to end: data → train every experiment → diagnose → cost → select → report.

Each stage's output is written to the run directory as it is made; ``resume=True`` picks a
killed run up at the first thing it had not finished, after checking every file it keeps against
its recorded sha256.

``run.json``'s status ends as ``complete``, ``partial`` (some experiment failed), ``failed`` (no model
chosen, or an error stopped the run) or ``interrupted``; the CLI turns it into the exit code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from practica.config.schema import ExperimentSpec, Suite, TrackingSpec, check_task
from practica.data import prepare_data
from practica.data.records import Splits
from practica.diagnosis import DiagnosisContext, diagnose, diagnose_fit
from practica.diagnosis.records import Diagnosis
from practica.errors import ConfigError, DataError, ModelError, PracticaError, RunError
from practica.evaluation.cost import measure_costs
from practica.evaluation.intervals import Bootstrap, bootstrap
from practica.evaluation.predictors import Predictor
from practica.evaluation.records import Cost, Interval, Predictions, RegressionMetrics
from practica.evaluation.slice_scores import SliceScores, score_slices, slice_metric
from practica.evaluation.slices import SliceSet, check_names, find_slices
from practica.evaluation.thresholds import ThresholdChoice, choose_threshold, describe_threshold
from practica.execution import Executor
from practica.execution.local import LocalExecutor
from practica.pipeline.experiment import load_predictor, output_units, predict_splits
from practica.pipeline.modality import TEXT_PROBE, check_model_fits_data
from practica.pipeline.rundir import RunDir
from practica.pipeline.units import train_all
from practica.results import ExperimentResult, Failed, Ok, SuiteRun, Trained
from practica.selection import select
from practica.selection.records import Decision
from practica.tasks import get_task
from practica.tracking import SuiteLog, check_tracking, open_tracking
from practica.training.augment import check_augment
from practica.training.trainer import TrainingEvents
from practica.version import code_version

if TYPE_CHECKING:
    from practica.data.duplicates.checks import HygieneReport


class Reporter(Protocol):
    """What the runner tells its user; the CLI shows it with rich, tests stay silent."""

    def stage(self, message: str) -> None: ...
    def experiment(self, index: int, total: int, exp: ExperimentSpec) -> TrainingEvents | None: ...
    def experiment_done(self, exp: ExperimentSpec, trained: Trained | Failed) -> None: ...
    def run_started(self, run_dir: Path) -> None: ...


class SilentReporter:
    def stage(self, message: str) -> None: ...
    def run_started(self, run_dir: Path) -> None: ...
    def experiment(self, index: int, total: int, exp: ExperimentSpec) -> TrainingEvents | None:
        return None
    def experiment_done(self, exp: ExperimentSpec, trained: Trained | Failed) -> None: ...


def preflight(suite: Suite, splits: Splits) -> None:
    """Build every network once on the data's shape, before any training: a mistake surfaces now."""
    from practica.models.registry import build_network

    shape = splits.train.input_shape
    check_classes(splits)
    try:  # the settings that suit one task only, against the task the data resolved to
        check_task(suite, splits.train.task)
        if suite.selection.threshold is not None:  # two classes, and the positive one among them
            suite.selection.threshold.check_classes(splits.classes)
    except ValueError as err:
        raise ConfigError(f"{err}.") from None
    folds = suite.dataset.split.cv_folds
    if folds and any(exp.model.kind == "sklearn" for exp in suite.experiments):
        idx = np.concatenate([splits.indices["train"], splits.indices["val"]])
        groups = len(np.unique(splits.groups[idx])) if splits.groups is not None else len(idx)
        if groups < folds:
            raise ConfigError(
                f"dataset.split.cv_folds: {folds} folds need at least {folds} samples (duplicate groups) in "
                f"train+val; there are {groups}. Lower cv_folds."
            )
    text = splits.train.kind == "text"
    for i, exp in enumerate(suite.experiments):
        where = f"experiments[{i}] ({exp.name})"
        check_model_fits_data(exp, suite.augment_for(exp), splits.train.kind, where, splits.train.task)
        check_augment(suite.augment_for(exp), shape, where)
        if exp.model.kind != "sklearn":
            try:  # a text network on a probe length and vocabulary: the tokenizer is fitted when it trains
                build_network(exp.model, (TEXT_PROBE[0],) if text else shape, output_units(splits.train),
                              vocab_size=TEXT_PROBE[1] if text else None)
            except ModelError as err:
                raise ConfigError(f"{where}.model: {err} (input shape {'×'.join(map(str, shape))})") from None


def check_classes(splits: Splits) -> None:
    """A classifier needs samples of two classes at least to train on; refuse one class before training."""
    if not get_task(splits.train.task).has_classes:
        return
    present = np.unique(splits.train.y)
    if len(present) >= 2:
        return
    name = splits.train.name
    if len(splits.classes) < 2:
        only = f"one class only, '{splits.classes[0]}'" if splits.classes else "no class"
        raise DataError(
            f"the data '{name}' has {only}; a classifier needs samples of two classes at least. Add samples of "
            "another class (another sub-folder of an image folder, another value in a CSV's target column), "
            "or give dataset.task: regression if the target is a number to predict."
        )
    seen = splits.classes[int(present[0])] if len(present) else None
    absent = [c for c in splits.classes if c != seen]
    raise DataError(
        f"the training split of '{name}' has samples of {'one class only, ' + repr(seen) if seen else 'no class'} "
        f"after cleaning and splitting; the classes {absent} have none. A classifier needs two classes at least: "
        "add samples of those classes, or check dataset.clean (it may have dropped them)."
    )


def finished_run(runs_root: Path, suite: Suite, run_id: str | None) -> RunDir | None:
    """The run ``--resume`` would continue (``run_id``, else the newest of ``suite``), when it has nothing left
    to do: it reached its decision with every experiment trained and no error stopped it (run.json's status
    ``complete``, or ``failed`` because no model meets the policy). Resuming it would only measure, select
    and write the report again. None when it has something left to do; a RunError when there is no such run."""
    run = RunDir.find(runs_root, suite, run_id)
    status = run.read_status()
    done = (status.get("status") in ("complete", "failed") and not status.get("error")
            and not status.get("failed_experiments") and run.decision_file.is_file())
    return run if done else None


def run_suite(
    suite: Suite,
    *,
    runs_root: Path = Path("runs"),
    resume: bool = False,
    run_id: str | None = None,
    reporter: Reporter | None = None,
    tracking: TrackingSpec | None = None,
    executor: Executor | None = None,
) -> SuiteRun:
    """Run ``suite`` in a new run directory under ``runs_root`` (or resume one). ``tracking``: where to log it
    (MLflow, TensorBoard), in place of the suite's ``tracking`` section; apart from the suite, so that turning
    it on or off never stops a run from resuming. ``executor``: what trains the experiments (``practica.execution``;
    default: one after another in this process); the records it leaves are the same whichever runs them."""
    reporter = reporter or SilentReporter()
    tracking = tracking or suite.tracking
    started = time.perf_counter()
    if resume:  # fail fast, before the data loads, when there is nothing to resume
        run = RunDir.find(runs_root, suite, run_id)
    # Data and models are checked before a new run directory exists: a suite that cannot run
    # leaves nothing behind.
    reporter.stage(f"Loading data ({suite.dataset.source})")
    splits = prepare_data(suite.dataset)
    share, task = splits.shares(), get_task(splits.train.task)  # shares as made, from the indices
    reporter.stage(
        f"Data: {len(splits.train)} train ({share['train']:.0%}), {len(splits.val)} val ({share['val']:.0%}), "
        f"{len(splits.test)} test ({share['test']:.0%}{', fixed test set' if splits.test_is_fixed else ''}); "
        f"{task.describe(len(splits.classes))}; "
        f"fingerprint {splits.fingerprint[:12]}"
    )
    for line in splits.drops:  # every sample cleaning dropped, one line per rule
        reporter.stage(line)
    preflight(suite, splits)
    check_tracking(tracking)  # a tracker asked for but not installed: an error before anything is written
    selection = suite.selection.for_task(splits.train.task)
    slices = _find_slices(suite, splits)  # a mistake in a declared slice surfaces before any training
    if resume:
        reporter.stage(f"Resuming run {run.path}")
        for stale in _remove_staging(suite, run):
            reporter.stage(f"Removed {stale}: a bundle export stopped there before it finished")
    else:
        run = RunDir.create(runs_root, suite)
        reporter.stage(f"Run directory {run.path}")
    reporter.run_started(run.path)
    trackers = open_tracking(tracking, suite=suite.name, run_id=run.id, runs_root=runs_root, say=reporter.stage)
    started_at = run.read_status().get("started") or datetime.now(UTC).isoformat(timespec="seconds")
    version = code_version()
    run.update_status(run_id=run.id, suite=suite.name, started=started_at, code_version=version, status="running",
                      error=None)
    with _status_on_error(run):
        _record_data(run, splits, resume, suite, version)
        hygiene = _record_hygiene(run, splits, reporter)

        trained, in_memory = train_all(suite, splits, run, resume=resume, executor=executor or LocalExecutor(),
                                       say=reporter.stage, start=reporter.experiment, done=reporter.experiment_done)

        ok = {name: t for name, t in trained.items() if isinstance(t, Trained)}
        reporter.stage("Diagnosing every run")
        diagnoses = _diagnose_all(suite, splits, ok, run)

        reporter.stage("Measuring latency and throughput, one model after another")
        costs = _measure_costs(suite, splits, ok, in_memory, run)

        outputs = _predictions(suite, splits, ok, in_memory, run)
        scores = _score_slices(suite, splits, slices, selection.metric, outputs, run)
        resampling = Bootstrap(resamples=suite.evaluation.bootstrap_resamples, level=suite.evaluation.confidence)
        intervals = _intervals(splits, outputs, resampling)
        results = tuple(_result(exp, trained[exp.name], diagnoses.get(exp.name), costs, outputs.get(exp.name), run,
                                scores.get(exp.name), intervals.get(exp.name, {}))
                        for exp in suite.experiments)
        trackers.experiments(results, task.name, splits.classes)
        decision = select(results, selection, splits.val.y, bootstrap=resampling)
        run.write_decision(decision)
        threshold = _choose_threshold(suite, splits, results, decision, run, reporter)
        bundle = _write_chosen_bundle(suite, splits, results, decision, in_memory, run, version, reporter, threshold)

        suite_run = SuiteRun(
            suite=suite, run_dir=run.path, run_id=run.id, splits=splits, results=results, decision=decision,
            code_version=version, started=started_at, seconds=time.perf_counter() - started, bundle=bundle,
            hygiene=hygiene, threshold=threshold,
        )
        reporter.stage("Writing the report")
        from practica.reporting import (
            write_report,  # matplotlib loads only when a report is written
        )

        report = write_report(suite_run)
        trackers.finish(SuiteLog(decision, (*report, run.decision_file), bundle))
    run.update_status(status=suite_run.status, chosen=decision.chosen, failed_experiments=list(suite_run.failed))
    return suite_run


@contextmanager
def _status_on_error(run: RunDir) -> Iterator[None]:
    """Record in run.json why a run stopped early (``interrupted``, or ``failed`` with the error), then let
    the exception go on: a stopped run never stays ``running``."""
    try:
        yield
    except KeyboardInterrupt:
        run.update_status(status="interrupted")
        raise
    except BaseException as err:
        run.update_status(status="failed", error=f"{type(err).__name__}: {err}")
        raise


def _remove_staging(suite: Suite, run: RunDir) -> list[Path]:
    """The hidden folders in which a stopped run or export was assembling a bundle (``.bundle.xxxxxxxx``)."""
    from practica.bundle.export import remove_staging

    targets = [run.bundle()] + [run.bundle(exp.name) for exp in suite.experiments]
    return [stale for target in targets for stale in remove_staging(target)]


def _choose_threshold(
    suite: Suite, splits: Splits, results: tuple[ExperimentResult, ...], decision: Decision, run: RunDir,
    reporter: Reporter,
) -> ThresholdChoice | None:
    """The chosen model's decision threshold (``selection.threshold``), from its validation outputs, after the
    selection: the policy compares models as they are, the threshold tunes the one it chose."""
    spec = suite.selection.threshold
    chosen = next((r for r in results if r.name == decision.chosen and isinstance(r, Ok)), None)
    if spec is None or chosen is None or chosen.predictions is None:
        return None
    choice = choose_threshold(spec, splits.classes, chosen.name, (chosen.predictions.val, splits.val.y),
                              (chosen.predictions.test, splits.test.y))
    run.write_threshold(choice)
    for line in describe_threshold(choice):
        reporter.stage(line)
    return choice


def _write_chosen_bundle(
    suite: Suite, splits: Splits, results: tuple[ExperimentResult, ...], decision: Decision,
    in_memory: dict[str, Predictor], run: RunDir, version: str, reporter: Reporter,
    threshold: ThresholdChoice | None = None,
) -> Path | None:
    """The chosen model, packaged for production. A failed export is reported, not fatal: the
    run's evidence is still worth its report, and ``practica export`` can retry."""
    chosen = next((r for r in results if r.name == decision.chosen and isinstance(r, Ok)), None)
    if chosen is None:
        return None
    from practica.bundle.export import BundleSource, write_bundle

    exp = chosen.spec
    # What the export checks the ONNX graph against: the trained network, or the fitted estimator.
    reference = ("the fitted scikit-learn estimator" if exp.model.kind == "sklearn" else "the trained PyTorch network")
    reporter.stage(f"Writing the production bundle of {chosen.name} (ONNX, checked against {reference})")
    try:
        predictor = in_memory.get(exp.name) or load_predictor(exp, splits, run.experiment(exp.name))
        src = BundleSource(suite, exp, splits, predictor, chosen.evaluation, chosen.diagnosis, decision, run.id,
                           version, lineage=run.read_lineage(), threshold=threshold)
        path = write_bundle(src, run.bundle(), overwrite=True)
    except PracticaError as err:
        reporter.stage(f"No bundle: {err}")
        run.update_status(bundle_error=str(err))
        return None
    run.update_status(bundle=run.bundle().name)
    return path


def _record_data(run: RunDir, splits: Splits, resume: bool, suite: Suite, version: str) -> None:
    from practica.data.splits.lineage import build_lineage

    if resume and (before := run.data_fingerprint()) is not None and before != splits.fingerprint:
        raise RunError(
            f"the data changed since run {run.id} began (fingerprint {before[:12]} then, "
            f"{splits.fingerprint[:12]} now); drop --resume to start a new run on the new data."
        )
    # Every input file's sha256 (cached between runs), each sample's split, the cleaning decisions.
    run.write_data(splits, build_lineage(suite.dataset, splits, version, run.id))


def _record_hygiene(run: RunDir, splits: Splits, reporter: Reporter) -> HygieneReport | None:
    """The data-hygiene checks on the splits as trained (after any cleaning), in data/hygiene.json.
    They inform; a failure to compute them is reported and costs the run nothing else. Cached for
    large sets: a second run on the same splits reads them back."""
    from practica.data.duplicates.checks import check_data

    reporter.stage("Checking the data: duplicates within and across splits, label conflicts, balance")
    try:
        report = check_data({"train": splits.train, "val": splits.val, "test": splits.test}, cached=True,
                            index=splits.duplicates)
    except (ValueError, MemoryError) as err:
        reporter.stage(f"No data hygiene checks: {type(err).__name__}: {err}")
        return None
    run.write_hygiene(report)
    for check in report.warnings:
        reporter.stage(f"  {check.title}: {check.summary}")
    return report


def _diagnose_all(suite: Suite, splits: Splits, trained: dict[str, Trained], run: RunDir) -> dict[str, Diagnosis]:
    """Diagnose every trained experiment; the suite's best that did not diverge is the reference."""
    ok = {n: t for n, t in trained.items() if not (t.history and t.history.stop_reason == "diverged")}
    if not get_task(splits.train.task).has_classes:
        return _diagnose_regressions(suite, trained, ok, run)
    if suite.diagnosis.reachable_accuracy is not None:
        ref, ref_name = suite.diagnosis.reachable_accuracy, "the declared reachable accuracy"
    elif ok:
        best = max(ok, key=lambda n: ok[n].val.classification.accuracy)
        ref, ref_name = ok[best].val.classification.accuracy, f"{best}, the suite's best"
    else:
        ref, ref_name = None, "no reference"
    context = DiagnosisContext(chance_accuracy=1.0 / len(splits.classes), reference_accuracy=ref,
                               reference_name=ref_name, images=splits.train.kind == "image")
    out: dict[str, Diagnosis] = {}
    for name, t in trained.items():
        if t.history is not None:
            d = diagnose(t.history, context)
        else:
            d = diagnose_fit(t.train, t.val.classification.accuracy, context, model_name=name,
                             estimator=suite.experiment(name).model.sklearn)
        run.experiment(name).write_diagnosis(d)
        out[name] = d
    return out


def _diagnose_regressions(suite: Suite, trained: dict[str, Trained], ok: dict[str, Trained],
                          run: RunDir) -> dict[str, Diagnosis]:
    """The regression reading: R² against the suite's best val R² (predicting the mean is R² 0)."""
    from practica.diagnosis.regression import RegressionContext, diagnose_regression, diagnose_regression_fit

    scored = {n: reg.r2 for n, t in ok.items()
              if isinstance(reg := t.val.figures, RegressionMetrics) and np.isfinite(reg.r2)}
    best = max(scored, key=scored.__getitem__) if scored else None
    context = RegressionContext(scored[best], f"{best}, the suite's best") if best else RegressionContext()
    out: dict[str, Diagnosis] = {}
    for name, t in trained.items():
        if not isinstance(val := t.val.figures, RegressionMetrics):
            continue
        if t.history is not None:
            d = diagnose_regression(t.history, context)
        elif np.isfinite(t.train) and np.isfinite(val.r2):
            d = diagnose_regression_fit(t.train, val.r2, context, model_name=name,
                                        estimator=suite.experiment(name).model.sklearn)
        else:
            continue
        run.experiment(name).write_diagnosis(d)
        out[name] = d
    return out


def _measure_costs(
    suite: Suite, splits: Splits, trained: dict[str, Trained], in_memory: dict[str, Predictor], run: RunDir
) -> dict[str, Cost]:
    predictors = {
        exp.name: in_memory.get(exp.name) or load_predictor(exp, splits, run.experiment(exp.name))
        for exp in suite.experiments
        if exp.name in trained
    }
    spec = suite.evaluation
    sample = splits.val.x[: max(spec.latency_samples, spec.throughput_batch)]
    costs = measure_costs(predictors, np.ascontiguousarray(sample), latency_samples=spec.latency_samples,
                          batch=spec.throughput_batch, precision=spec.latency_precision,
                          budget_s=spec.latency_budget_s, level=spec.confidence)
    for name, cost in costs.items():
        run.experiment(name).write_cost(cost)
    return costs


def _predictions(
    suite: Suite, splits: Splits, trained: dict[str, Trained], in_memory: dict[str, Predictor], run: RunDir
) -> dict[str, Predictions]:
    """Every trained experiment's validation and test outputs: as recorded, or (a run from before they
    were kept, or a damaged file) computed again from the model and recorded."""
    out: dict[str, Predictions] = {}
    for exp in suite.experiments:
        if exp.name not in trained:
            continue
        exp_dir = run.experiment(exp.name)
        if (kept := exp_dir.read_predictions()) is None:
            predictor = in_memory.get(exp.name) or load_predictor(exp, splits, exp_dir)
            kept = predict_splits(predictor, splits)
            exp_dir.write_predictions(kept)
        out[exp.name] = kept
    return out


def _intervals(splits: Splits, outputs: dict[str, Predictions], spec: Bootstrap) -> dict[str, dict[str, Interval]]:
    """Every validation metric's bootstrap interval, per experiment, on the same resamples."""
    task = get_task(splits.val.task)
    resampled = bootstrap({name: p.val for name, p in outputs.items()}, splits.val.y, task.name,
                          task.metric_names, spec)
    return {name: resampled.intervals(name) for name in outputs}


def _find_slices(suite: Suite, splits: Splits) -> SliceSet:
    """The automatic and declared slices; names in the floors and the human levels checked against them."""
    slices = find_slices(splits, suite.evaluation)
    check_names(suite.selection.slice_floors, slices, "selection.slice_floors")
    return slices


def _score_slices(
    suite: Suite, splits: Splits, slices: SliceSet, metric: str | None, outputs: dict[str, Predictions], run: RunDir
) -> dict[str, SliceScores]:
    """Every experiment with outputs on every slice of validation and test, in its slices.json."""
    by_slice = slice_metric(splits.train.task, metric)
    out: dict[str, SliceScores] = {}
    for name, predictions in outputs.items():
        out[name] = score_slices(slices, predictions, splits, by_slice, suite.evaluation.min_slice_samples)
        run.experiment(name).write_slices(out[name])
    return out


def _result(
    exp: ExperimentSpec, t: Trained | Failed, diagnosis: Diagnosis | None, costs: dict[str, Cost],
    predictions: Predictions | None, run: RunDir, slices: SliceScores | None = None,
    intervals: dict[str, Interval] | None = None,
) -> ExperimentResult:
    if isinstance(t, Failed):
        return t
    if (cost := costs.get(exp.name)) is None:
        return Failed(exp, "no cost measured", t.model_summary, t.train_seconds)
    result = Ok(exp, t, cost, diagnosis, predictions, slices, intervals or {})
    run.experiment(exp.name).write_evaluation(result.evaluation)
    return result
