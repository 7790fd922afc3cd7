"""The retrain pipeline, step by step: new data → hygiene gate → the suite → the challenger against the
registry's ``production`` version on the fresh test data → registered, and promoted only when the rule says so.

Each step is recorded in ``pipeline.json`` as it starts and ends (``record.py``). A refusal is a verdict, not an
error: the record says why in one sentence and the outcome carries the exit code (the ``EXIT_*`` codes below).
Nothing is half-written: the registry changes only in its own atomic steps (register, then promote), after every
check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from practica.errors import PracticaError, RunError
from practica.retrain.config import Pipeline, registry_path
from practica.retrain.gates import hygiene_gate, promotion_verdict
from practica.retrain.record import PipelineRun

if TYPE_CHECKING:
    from practica.bundle.load import Bundle
    from practica.pipeline.suite import Reporter
    from practica.registry import Registry, Version
    from practica.results import SuiteRun
    from practica.retrain.gates import Verdict

# Exit codes of ``practica pipeline`` (``practica run``'s 0, 1, 2, 4 and 130 mean what they mean there).
EXIT_PROMOTED = 0  # the challenger won and the alias moved to it (or it is the first version)
EXIT_BUG = 1  # an unexpected error: its traceback is kept
EXIT_ERROR = 2  # the pipeline file, the data or the registry cannot be used as given
EXIT_NO_MODEL = 4  # the suite chose no model: nothing to challenge with
EXIT_GATE_FAILED = 5  # the hygiene gate refused the new data: nothing was trained or registered
EXIT_NOT_PROMOTED = 6  # the challenger was registered but did not win by the declared margin, or a class regressed
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Checked:
    """What the hygiene gate hands on: the data it checked (their split's fingerprint) and the test samples the
    comparison keeps (production's training samples left out)."""

    fingerprint: str
    keep: np.ndarray


def run_pipeline(pipeline: Pipeline, *, say: Callable[[str], None] | None = None,
                 suite_reporter: Reporter | None = None) -> PipelineRun:
    """Run every step; the returned run's ``record`` holds the outcome and its exit code. Errors (a
    PracticaError, Ctrl-C, a bug) are recorded, then raised."""
    from practica.pipeline.rundir import resolved_yaml
    from practica.registry import Registry
    from practica.version import code_version

    say = say or (lambda message: None)
    spec = pipeline.spec
    registry = Registry(registry_path(spec))
    current = _current(registry, spec.alias)  # a damaged registry stops the pipeline before anything is written
    run = PipelineRun.create(spec.runs_dir, spec.name, pipeline_file=pipeline.path, registry=registry.root.resolve(),
                             alias=spec.alias, code_version=code_version())
    run.write("suite.yaml", resolved_yaml(pipeline.suite))
    say(f"Pipeline run {run.path}")
    started = time.perf_counter()
    try:
        _steps(pipeline, run, registry, current, say, suite_reporter)
    except KeyboardInterrupt:
        run.end("interrupted", EXIT_INTERRUPTED, "interrupted (Ctrl-C); run the pipeline again")
        raise
    except PracticaError as err:
        run.end("failed", EXIT_ERROR, f"{type(err).__name__}: {err}")
        raise
    except BaseException as err:
        run.end("failed", EXIT_BUG, f"{type(err).__name__}: {err}")
        raise
    run.record.seconds = round(time.perf_counter() - started, 3)
    run.save()
    return run


def _steps(pipeline: Pipeline, run: PipelineRun, registry: Registry, current: Version | None,
           say: Callable[[str], None], suite_reporter: Reporter | None) -> None:
    from practica.bundle.load import load_bundle

    production = load_bundle(registry.path(current.number)) if current is not None else None
    data = _hygiene(pipeline, run, production, say)
    if data is None:
        return
    chosen = _suite(pipeline, run, data, say, suite_reporter)
    if chosen is None:
        return
    result, bundle = chosen
    verdict = _compare(pipeline, run, result, bundle, data, production, current, say)
    _register_and_promote(pipeline, run, registry, bundle, verdict, current, say)


def _hygiene(pipeline: Pipeline, run: PipelineRun, production: Bundle | None,
             say: Callable[[str], None]) -> Checked | None:
    """1. The new data, loaded and split as the suite will train on it, through the hygiene gate."""
    from practica.data import prepare_data

    suite = pipeline.suite
    run.start("hygiene")
    say(f"1/5 hygiene: checking the new data ({suite.dataset.source})")
    splits = prepare_data(suite.dataset)
    verdict = hygiene_gate(splits, pipeline.spec.hygiene, suite.dataset, production)
    if verdict.report is not None:
        run.write("hygiene.json", verdict.report.to_dict())
    run.finish("hygiene", "passed" if verdict.passed else "failed", verdict.message,
               {**verdict.evidence, "fingerprint": splits.fingerprint})
    say(f"    {verdict.message}")
    if not verdict.passed:
        run.end("gate_failed", EXIT_GATE_FAILED, verdict.message)
        return None
    keep = verdict.keep if verdict.keep is not None else np.ones(len(splits.test), dtype=bool)
    return Checked(splits.fingerprint, keep)


def _suite(pipeline: Pipeline, run: PipelineRun, data: Checked, say: Callable[[str], None],
           suite_reporter: Reporter | None) -> tuple[SuiteRun, Path] | None:
    """2. The suite on the new data: its selection and its bundle are the challenger."""
    from practica.pipeline.suite import run_suite

    suite = pipeline.suite
    run.start("suite")
    say(f"2/5 suite: running '{suite.name}' ({len(suite.experiments)} experiments) on the new data")
    result = run_suite(suite, runs_root=run.suite_runs, reporter=suite_reporter)
    evidence = {"run_dir": str(result.run_dir), "chosen": result.decision.chosen, "decision": result.decision.summary,
                "failed_experiments": list(result.failed), "bundle": str(result.bundle) if result.bundle else None}
    if result.decision.chosen is None or result.bundle is None:
        why = ("no model meets the suite's selection policy" if result.decision.chosen is None
               else f"the chosen model's bundle could not be written ({result.run_dir / 'run.json'} says why)")
        message = f"no challenger: {why}; read {result.run_dir / 'report.md'}"
        run.finish("suite", "failed", message, evidence)
        run.end("failed", EXIT_NO_MODEL, message)
        return None
    if result.splits.fingerprint != data.fingerprint:
        raise RunError("the new data changed while the pipeline ran (the suite's split has another fingerprint than "
                       "the one the hygiene gate checked); run the pipeline again")
    run.finish("suite", "passed", f"the suite chose {result.decision.chosen}: {result.decision.summary}", evidence)
    say(f"    chose {result.decision.chosen}")
    return result, result.bundle


def _compare(pipeline: Pipeline, run: PipelineRun, result: SuiteRun, bundle: Path, data: Checked,
             production: Bundle | None, current: Version | None, say: Callable[[str], None]) -> Verdict | None:
    """3. The challenger against production on the fresh test samples; None when there is no production yet."""
    from practica.bundle.load import load_bundle
    from practica.evaluation.intervals import Bootstrap
    from practica.retrain.compare import compare
    from practica.tasks import get_task

    spec, suite = pipeline.spec, pipeline.suite
    if production is None or current is None:
        run.finish("compare", "skipped", f"no '{spec.alias}' version in the registry yet: the first pipeline run "
                   "registers its challenger and promotes it without a comparison")
        say(f"3/5 compare: skipped, no '{spec.alias}' version yet (this first run promotes its challenger)")
        return None
    run.start("compare")
    say(f"3/5 compare: {result.decision.chosen} against version {current.number} ({current.bundle_version})")
    test = result.splits.test
    metric = get_task("classification").metric(suite.selection.for_task("classification").metric)
    resampling = Bootstrap(resamples=suite.evaluation.bootstrap_resamples, level=suite.evaluation.confidence)
    comparison = compare(load_bundle(bundle), production, test.x[data.keep], test.y[data.keep],
                         result.splits.classes, metric.name, resampling)
    run.write("comparison.json", {"production_version": current.number, "challenger": str(bundle),
                                  "excluded_samples": int((~data.keep).sum()), **comparison.to_dict()})
    verdict = promotion_verdict(comparison, spec.promotion, metric.label.replace("validation ", "test "), metric.share)
    run.finish("compare", "passed", f"the challenger's {verdict.evidence['summary']}",
               {"production_version": current.number, **comparison.to_dict()})
    say(f"    {verdict.message}")
    return verdict


def _register_and_promote(pipeline: Pipeline, run: PipelineRun, registry: Registry, bundle: Path,
                          verdict: Verdict | None, current: Version | None, say: Callable[[str], None]) -> None:
    """4. Registered always (a candidate); 5. aliased only when promoted (or when nothing was under the alias)."""
    spec = pipeline.spec
    run.start("register")
    decision = "promoted" if verdict is None or verdict.passed else "not promoted"
    version = registry.register(bundle, note=f"pipeline {spec.name} run {run.record.run_id}: {decision}")
    run.finish("register", "passed", f"registered as version {version.number} ({version.bundle_version})",
               {"version": version.number, "bundle_version": version.bundle_version})
    say(f"4/5 register: version {version.number}")
    run.start("promote")
    if verdict is not None and not verdict.passed:
        stays = f"'{spec.alias}' stays at version {current.number if current else '?'}"
        run.finish("promote", "failed", verdict.message, verdict.evidence)
        run.end("not_promoted", EXIT_NOT_PROMOTED, f"version {version.number} registered as a candidate; {stays}: "
                f"{verdict.message.removeprefix('not promoted: ')}")
        say(f"5/5 promote: not promoted; {stays}")
        return
    reason = verdict.message if verdict is not None else f"first pipeline run: no '{spec.alias}' version before"
    move = registry.promote(spec.alias, version.number, reason=f"pipeline {spec.name} run {run.record.run_id}: "
                            f"{reason}")
    moved = (f"'{spec.alias}' moved from version {move.before} to {move.after}" if move.before is not None
             else f"'{spec.alias}' now points at version {move.after} (it pointed at none before)")
    run.finish("promote", "passed", f"{moved}: {reason}", {"before": move.before, "after": move.after})
    run.end("promoted", EXIT_PROMOTED, moved)
    say(f"5/5 promote: {moved}")


def _current(registry: Registry, alias: str) -> Version | None:
    """The version ``alias`` points at; None when the registry or the alias does not exist yet."""
    from practica.registry.store import STATE_FILE

    if not (registry.root / STATE_FILE).is_file():
        return None
    aliases = registry.aliases()
    return registry.version(alias) if alias in aliases else None

