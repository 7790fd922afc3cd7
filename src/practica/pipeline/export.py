"""``practica export``: a finished run's experiment → a bundle, re-checked against its data."""

from __future__ import annotations

from pathlib import Path

import yaml

from practica.bundle.export import BundleSource, write_bundle
from practica.config.load import suite_from_dict
from practica.data import prepare_data
from practica.diagnosis.records import Diagnosis
from practica.errors import ConfigError, RunError
from practica.evaluation.records import Evaluation
from practica.io import read_json
from practica.pipeline.experiment import load_predictor
from practica.selection.records import Decision

BUNDLE_DIR = "bundle"


def default_bundle_path(run_dir: Path, experiment: str, chosen: str | None) -> Path:
    return run_dir / (BUNDLE_DIR if experiment == chosen else f"{BUNDLE_DIR}-{experiment}")


def export_run(run_dir: Path, experiment: str | None = None, out: Path | None = None, *, overwrite: bool = False) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / "suite.yaml").is_file():
        raise RunError(f"{run_dir} is not a run directory (no suite.yaml); give a folder under runs/<suite>/, e.g. the one practica run printed")
    if not (run_dir / "decision.json").is_file():
        raise RunError(f"the run {run_dir} has not finished (no decision.json); finish it with: practica run SUITE --resume --run-id {run_dir.name}")
    try:
        suite = suite_from_dict(yaml.safe_load((run_dir / "suite.yaml").read_text(encoding="utf-8")), base_dir=run_dir,
                                origin=str(run_dir / "suite.yaml"))
    except ConfigError as err:
        raise RunError(f"the run's suite.yaml no longer loads: {err}") from None
    decision = Decision.from_dict(read_json(run_dir / "decision.json"))
    name = experiment or decision.chosen
    if name is None:
        raise RunError(f"no experiment of run {run_dir.name} was chosen ({decision.summary}); pick one with --experiment NAME")
    names = [e.name for e in suite.experiments]
    if name not in names:
        raise RunError(f"the run has no experiment '{name}'; it has: {', '.join(names)}")
    exp_dir = run_dir / "experiments" / name
    if not (exp_dir / "metrics.json").is_file():
        raise RunError(f"experiment '{name}' of run {run_dir.name} did not finish (it failed or never ran); it cannot be exported")
    splits = prepare_data(suite.dataset)
    recorded = read_json(run_dir / "data" / "summary.json")["fingerprint"]
    if recorded != splits.fingerprint:
        raise RunError(
            f"the data changed since run {run_dir.name} (fingerprint {recorded[:12]} then, {splits.fingerprint[:12]} now); "
            "the bundle's lineage and reference statistics would be wrong. Restore the data, or run the suite again."
        )
    exp = suite.experiment(name)
    diag_path = exp_dir / "diagnosis.json"
    src = BundleSource(
        suite=suite, experiment=exp, splits=splits, predictor=load_predictor(exp, splits, exp_dir),
        evaluation=Evaluation.from_dict(read_json(exp_dir / "metrics.json")),
        diagnosis=Diagnosis.from_dict(read_json(diag_path)) if diag_path.is_file() else None,
        decision=decision, run_id=run_dir.name, code_version=read_json(run_dir / "run.json").get("code_version", ""),
    )
    return write_bundle(src, out or default_bundle_path(run_dir, name, decision.chosen), overwrite=overwrite)
