"""The case study end to end: data → train every experiment → diagnose → cost → select → report.

Each stage's output is written to the run directory as it is made; ``resume=True`` picks a
killed run up at the first thing it had not finished, after checking every file it keeps against
its recorded sha256.

``run.json``'s status ends as ``complete``, ``partial`` (some experiment failed), ``failed`` (no model
chosen, or an error stopped the run) or ``interrupted``; the CLI turns it into the exit code.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from practica.config.schema import ExperimentSpec, Suite, check_task
from practica.data import prepare_data
from practica.data.records import Splits
from practica.diagnosis import DiagnosisContext, diagnose, diagnose_fit
from practica.diagnosis.records import Diagnosis
from practica.errors import ConfigError, DataError, ModelError, PracticaError, RunError
from practica.evaluation.cost import measure_costs
from practica.evaluation.predictors import Predictor
from practica.evaluation.records import Cost, Evaluation
from practica.io import read_json, write_json
from practica.pipeline.experiment import (
    Trained,
    failed,
    load_predictor,
    output_units,
    resume_state,
    train_experiment,
)
from practica.pipeline.export import BUNDLE_DIR
from practica.pipeline.rundir import (
    code_version,
    find_run_dir,
    new_run_dir,
    write_status,
)
from practica.results import ExperimentResult, SuiteRun
from practica.selection import select
from practica.selection.records import Decision
from practica.training.augment import check_augment
from practica.training.trainer import TrainingEvents

if TYPE_CHECKING:
    from practica.data.duplicates.checks import HygieneReport


HYGIENE_FILE = "hygiene.json"  # in the run's data/ folder


class Reporter(Protocol):
    """What the runner tells its user; the CLI shows it with rich, tests stay silent."""

    def stage(self, message: str) -> None: ...
    def experiment(self, index: int, total: int, exp: ExperimentSpec) -> TrainingEvents | None: ...
    def experiment_done(self, exp: ExperimentSpec, trained: Trained) -> None: ...
    def run_started(self, run_dir: Path) -> None: ...


class SilentReporter:
    def stage(self, message: str) -> None: ...
    def run_started(self, run_dir: Path) -> None: ...
    def experiment(self, index: int, total: int, exp: ExperimentSpec) -> TrainingEvents | None:
        return None
    def experiment_done(self, exp: ExperimentSpec, trained: Trained) -> None: ...


def preflight(suite: Suite, splits: Splits) -> None:
    """Build every network once on the data's shape, before any training: a mistake surfaces now."""
    from practica.models.registry import build_network

    shape = splits.train.input_shape
    check_classes(splits)
    try:  # the settings that suit one task only, against the task the data resolved to
        check_task(suite, splits.train.task)
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
    for i, exp in enumerate(suite.experiments):
        where = f"experiments[{i}] ({exp.name})"
        check_augment(suite.augment_for(exp), shape, where)
        if exp.model.kind != "sklearn":
            try:
                build_network(exp.model, shape, output_units(splits.train))
            except ModelError as err:
                raise ConfigError(f"{where}.model: {err} (input shape {'×'.join(map(str, shape))})") from None


def check_classes(splits: Splits) -> None:
    """A classifier needs samples of two classes at least to train on; refuse one class before training."""
    if splits.train.is_regression:
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


def run_suite(
    suite: Suite,
    *,
    runs_root: Path = Path("runs"),
    resume: bool = False,
    run_id: str | None = None,
    reporter: Reporter | None = None,
) -> SuiteRun:
    reporter = reporter or SilentReporter()
    started = time.perf_counter()
    if resume:  # fail fast, before the data loads, when there is nothing to resume
        run_dir, run_id = find_run_dir(runs_root, suite, run_id)
    # Data and models are checked before a new run directory exists: a suite that cannot run
    # leaves nothing behind.
    reporter.stage(f"Loading data ({suite.dataset.source})")
    splits = prepare_data(suite.dataset)
    share = splits.shares()  # as made, from the indices
    reporter.stage(
        f"Data: {len(splits.train)} train ({share['train']:.0%}), {len(splits.val)} val ({share['val']:.0%}), "
        f"{len(splits.test)} test ({share['test']:.0%}{', fixed test set' if splits.test_is_fixed else ''}); "
        f"{'regression (a numeric target)' if splits.train.is_regression else f'{len(splits.classes)} classes'}; "
        f"fingerprint {splits.fingerprint[:12]}"
    )
    for line in splits.drops:  # every sample cleaning dropped, one line per rule
        reporter.stage(line)
    preflight(suite, splits)
    selection = suite.selection.for_task(splits.train.task)
    if resume:
        reporter.stage(f"Resuming run {run_dir}")
        for stale in _remove_staging(suite, run_dir):
            reporter.stage(f"Removed {stale}: a bundle export stopped there before it finished")
    else:
        run_dir, run_id = new_run_dir(runs_root, suite)
        reporter.stage(f"Run directory {run_dir}")
    reporter.run_started(run_dir)
    status_path = run_dir / "run.json"
    started_at = read_json(status_path)["started"] if status_path.exists() else datetime.now(timezone.utc).isoformat(timespec="seconds")
    version = code_version()
    write_status(run_dir, run_id=run_id, suite=suite.name, started=started_at, code_version=version, status="running",
                 error=None)
    with _status_on_error(run_dir):
        _record_data(run_dir, splits, resume, suite, run_id, version)
        hygiene = _record_hygiene(run_dir, splits, reporter)

        trained: dict[str, Trained] = {}
        in_memory: dict[str, Predictor] = {}
        total = len(suite.experiments)
        for i, exp in enumerate(suite.experiments, 1):
            exp_dir = run_dir / "experiments" / exp.name
            done, notes = resume_state(exp, exp_dir) if resume else (None, [])
            for note in notes:
                reporter.stage(f"[{i}/{total}] {exp.name}: {note}")
            if done is not None:
                trained[exp.name] = done
                reporter.stage(f"[{i}/{total}] {exp.name}: already trained, kept")
                continue
            events = reporter.experiment(i, total, exp)
            try:
                result, predictor = train_experiment(exp, suite, splits, exp_dir, resume=resume, events=events)
                in_memory[exp.name] = predictor
            except PracticaError as err:
                # One broken experiment should not cost the others; the report says why it failed.
                result = failed(exp, exp_dir, f"{type(err).__name__}: {err}")
            except (RuntimeError, ValueError, MemoryError) as err:
                # Not an error practica raises on purpose: possibly a bug, so its traceback is kept.
                result = failed(exp, exp_dir, f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
            trained[exp.name] = result
            reporter.experiment_done(exp, result)

        reporter.stage("Diagnosing every run")
        diagnoses = _diagnose_all(suite, splits, trained, run_dir)

        reporter.stage("Measuring latency and throughput, one model after another")
        costs = _measure_costs(suite, splits, trained, in_memory, run_dir)

        results = tuple(_result(exp, trained[exp.name], diagnoses.get(exp.name), costs.get(exp.name), run_dir)
                        for exp in suite.experiments)
        decision = select(results, selection)
        write_json(run_dir / "decision.json", decision.to_dict())
        bundle = _write_chosen_bundle(suite, splits, results, decision, in_memory, run_dir, run_id, version, reporter)

        run = SuiteRun(
            suite=suite, run_dir=run_dir, run_id=run_id, splits=splits, results=results, decision=decision,
            code_version=version, started=started_at, seconds=time.perf_counter() - started, bundle=bundle,
            hygiene=hygiene,
        )
        reporter.stage("Writing the report")
        from practica.reporting import (
            write_report,  # matplotlib loads only when a report is written
        )

        write_report(run)
    write_status(run_dir, status=run.status, chosen=decision.chosen, failed_experiments=list(run.failed))
    return run


@contextmanager
def _status_on_error(run_dir: Path) -> Iterator[None]:
    """Record in run.json why a run stopped early (``interrupted``, or ``failed`` with the error), then let
    the exception go on: a stopped run never stays ``running``."""
    try:
        yield
    except KeyboardInterrupt:
        write_status(run_dir, status="interrupted")
        raise
    except BaseException as err:
        write_status(run_dir, status="failed", error=f"{type(err).__name__}: {err}")
        raise


def _remove_staging(suite: Suite, run_dir: Path) -> list[Path]:
    """The hidden folders in which a stopped run or export was assembling a bundle (``.bundle.xxxxxxxx``)."""
    from practica.bundle.export import remove_staging

    targets = [run_dir / BUNDLE_DIR] + [run_dir / f"{BUNDLE_DIR}-{exp.name}" for exp in suite.experiments]
    return [stale for target in targets for stale in remove_staging(target)]


def _write_chosen_bundle(
    suite: Suite, splits: Splits, results: tuple[ExperimentResult, ...], decision: Decision,
    in_memory: dict[str, Predictor], run_dir: Path, run_id: str, version: str, reporter: Reporter,
) -> Path | None:
    """The chosen model, packaged for production. A failed export is reported, not fatal: the
    run's evidence is still worth its report, and ``practica export`` can retry."""
    if decision.chosen is None:
        return None
    from practica.bundle.export import BundleSource, write_bundle

    reporter.stage(f"Writing the production bundle of {decision.chosen} (ONNX, checked against PyTorch)")
    exp = suite.experiment(decision.chosen)
    result = next(r for r in results if r.name == exp.name)
    exp_dir = run_dir / "experiments" / exp.name
    try:
        predictor = in_memory.get(exp.name) or load_predictor(exp, splits, exp_dir)
        from practica.data.splits.lineage import LINEAGE_FILE

        lineage_path = run_dir / "data" / LINEAGE_FILE
        src = BundleSource(suite, exp, splits, predictor, result.evaluation, result.diagnosis, decision, run_id, version,
                           lineage=read_json(lineage_path) if lineage_path.is_file() else None)
        path = write_bundle(src, run_dir / BUNDLE_DIR, overwrite=True)
    except PracticaError as err:
        reporter.stage(f"No bundle: {err}")
        write_status(run_dir, bundle_error=str(err))
        return None
    write_status(run_dir, bundle=BUNDLE_DIR)
    return path


def _record_data(run_dir: Path, splits: Splits, resume: bool, suite: Suite, run_id: str, version: str) -> None:
    from practica.data.splits.lineage import LINEAGE_FILE, build_lineage

    data_dir = run_dir / "data"
    summary_path = data_dir / "summary.json"
    if resume and summary_path.exists():
        before = read_json(summary_path)["fingerprint"]
        if before != splits.fingerprint:
            raise RunError(
                f"the data changed since run {run_dir.name} began (fingerprint {before[:12]} then, "
                f"{splits.fingerprint[:12]} now); drop --resume to start a new run on the new data."
            )
    write_json(data_dir / "splits.json", {k: v.tolist() for k, v in splits.indices.items()})
    write_json(summary_path, {
        "fingerprint": splits.fingerprint,
        "seed": splits.seed,
        "test_is_fixed": splits.test_is_fixed,
        "task": splits.train.task,
        "classes": list(splits.classes),
        "counts": {name: getattr(splits, name).class_counts() for name in ("train", "val", "test")},
        "input_shape": list(splits.train.input_shape),
        "drops": list(splits.drops),
        "notes": list(splits.notes),
    })
    # Every input file's sha256 (cached between runs), each sample's split, the cleaning decisions.
    write_json(data_dir / LINEAGE_FILE, build_lineage(suite.dataset, splits, version, run_id))


def _record_hygiene(run_dir: Path, splits: Splits, reporter: Reporter) -> HygieneReport | None:
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
    write_json(run_dir / "data" / HYGIENE_FILE, report.to_dict())
    for check in report.warnings:
        reporter.stage(f"  {check.title}: {check.summary}")
    return report


def _diagnose_all(suite: Suite, splits: Splits, trained: dict[str, Trained], run_dir: Path) -> dict[str, Diagnosis]:
    ok = {n: t for n, t in trained.items() if t.status == "ok" and t.val is not None
          and not (t.history and t.history.stop_reason == "diverged")}
    if splits.train.is_regression:
        return _diagnose_regressions(splits, trained, ok, run_dir)
    if suite.diagnosis.reachable_accuracy is not None:
        ref, ref_name = suite.diagnosis.reachable_accuracy, "the declared reachable accuracy"
    elif ok:
        best = max(ok, key=lambda n: ok[n].val.accuracy)  # type: ignore[union-attr]
        ref, ref_name = ok[best].val.accuracy, f"{best}, the suite's best"  # type: ignore[union-attr]
    else:
        ref, ref_name = None, "no reference"
    context = DiagnosisContext(chance_accuracy=1.0 / len(splits.classes), reference_accuracy=ref, reference_name=ref_name)
    out: dict[str, Diagnosis] = {}
    for name, t in trained.items():
        if t.status != "ok":
            continue
        if t.history is not None:
            d = diagnose(t.history, context)
        else:
            d = diagnose_fit(t.train_accuracy, t.val.accuracy, context, model_name=name)  # type: ignore[union-attr]
        write_json(run_dir / "experiments" / name / "diagnosis.json", d.to_dict())
        out[name] = d
    return out


def _diagnose_regressions(
    splits: Splits, trained: dict[str, Trained], ok: dict[str, Trained], run_dir: Path
) -> dict[str, Diagnosis]:
    """The regression reading: R² against the suite's best val R² (predicting the mean is R² 0)."""
    from practica.diagnosis.regression import RegressionContext, diagnose_regression, diagnose_regression_fit

    scored = {n: t.val.regression.r2 for n, t in ok.items() if t.val.regression and np.isfinite(t.val.regression.r2)}  # type: ignore[union-attr]
    best = max(scored, key=scored.__getitem__) if scored else None
    context = RegressionContext(scored[best], f"{best}, the suite's best") if best else RegressionContext()
    out: dict[str, Diagnosis] = {}
    for name, t in trained.items():
        if t.status != "ok" or t.val is None or t.val.regression is None:
            continue
        if t.history is not None:
            d = diagnose_regression(t.history, context)
        elif np.isfinite(t.train_r2) and np.isfinite(t.val.regression.r2):
            d = diagnose_regression_fit(t.train_r2, t.val.regression.r2, context, model_name=name)
        else:
            continue
        write_json(run_dir / "experiments" / name / "diagnosis.json", d.to_dict())
        out[name] = d
    return out


def _measure_costs(
    suite: Suite, splits: Splits, trained: dict[str, Trained], in_memory: dict[str, Predictor], run_dir: Path
) -> dict[str, Cost]:
    predictors = {
        exp.name: in_memory.get(exp.name) or load_predictor(exp, splits, run_dir / "experiments" / exp.name)
        for exp in suite.experiments
        if trained[exp.name].status == "ok"
    }
    sample = splits.val.x[: max(suite.evaluation.latency_samples, suite.evaluation.throughput_batch)]
    costs = measure_costs(predictors, np.ascontiguousarray(sample), latency_samples=suite.evaluation.latency_samples,
                          batch=suite.evaluation.throughput_batch)
    for name, cost in costs.items():
        write_json(run_dir / "experiments" / name / "cost.json", cost.__dict__)
    return costs


def _result(
    exp: ExperimentSpec, t: Trained, diagnosis: Diagnosis | None, cost: Cost | None, run_dir: Path
) -> ExperimentResult:
    evaluation = None
    if t.status == "ok" and t.val is not None and t.test is not None and cost is not None:
        evaluation = Evaluation(train_accuracy=t.train_accuracy, val=t.val, test=t.test, cost=cost, train_r2=t.train_r2)
        write_json(run_dir / "experiments" / exp.name / "metrics.json", evaluation.to_dict())
    return ExperimentResult(
        spec=exp, status="ok" if evaluation is not None else "failed",
        history=t.history, diagnosis=diagnosis, evaluation=evaluation, train_seconds=t.train_seconds,
        model_summary=t.model_summary, error=t.error, cv=t.cv if evaluation is not None else None,
    )
