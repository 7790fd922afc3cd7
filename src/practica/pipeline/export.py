"""``practica export``: a finished run's experiment → a bundle, re-checked against its data."""

from __future__ import annotations

from pathlib import Path

from practica.bundle.export import BundleSource, write_bundle
from practica.config.schema import Suite
from practica.data import prepare_data
from practica.data.records import Splits
from practica.errors import RunError
from practica.evaluation.thresholds import ThresholdChoice, choose_threshold
from practica.pipeline.experiment import load_predictor
from practica.pipeline.rundir import ExperimentDir, RunDir


def export_run(run_dir: Path, experiment: str | None = None, out: Path | None = None, *,
               overwrite: bool = False) -> Path:
    run = RunDir.finished(run_dir)
    suite = run.read_suite()
    decision = run.read_decision()
    name = experiment or decision.chosen
    if name is None:
        raise RunError(f"no experiment of run {run.id} was chosen ({decision.summary}); "
                       "pick one with --experiment NAME")
    names = [e.name for e in suite.experiments]
    if name not in names:
        raise RunError(f"the run has no experiment '{name}'; it has: {', '.join(names)}")
    exp_dir = run.experiment(name)
    evaluation = exp_dir.read_evaluation()
    if evaluation is None:
        raise RunError(f"experiment '{name}' of run {run.id} did not finish (it failed or never ran); "
                       "it cannot be exported")
    splits = prepare_data(suite.dataset)
    recorded = run.data_fingerprint()
    if recorded != splits.fingerprint:
        raise RunError(
            f"the data changed since run {run.id} "
            f"(fingerprint {(recorded or '?')[:12]} then, {splits.fingerprint[:12]} now); "
            "the bundle's lineage and reference statistics would be wrong. Restore the data, or run the suite again."
        )
    exp = suite.experiment(name)
    src = BundleSource(
        suite=suite, experiment=exp, splits=splits, predictor=load_predictor(exp, splits, exp_dir),
        evaluation=evaluation, diagnosis=exp_dir.read_diagnosis(), decision=decision, run_id=run.id,
        code_version=run.read_status().get("code_version", ""), lineage=run.read_lineage(),
        threshold=_threshold(suite, splits, run, name, exp_dir),
    )
    return write_bundle(src, out or run.bundle(name, decision.chosen), overwrite=overwrite)


def _threshold(suite: Suite, splits: Splits, run: RunDir, name: str, exp_dir: ExperimentDir) -> ThresholdChoice | None:
    """The decision threshold of experiment ``name`` (``selection.threshold``): as the run recorded it for the
    chosen model, or chosen now the same way from another experiment's kept validation outputs."""
    spec = suite.selection.threshold
    if spec is None:
        return None
    if (kept := run.read_threshold()) is not None and kept.experiment == name:
        return kept
    if (outputs := exp_dir.read_predictions()) is None:  # a run from before outputs were kept
        return None
    return choose_threshold(spec, splits.classes, name, (outputs.val, splits.val.y), (outputs.test, splits.test.y))
