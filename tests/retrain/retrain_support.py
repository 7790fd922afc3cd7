"""Helpers of the retrain pipeline tests: small suites of scikit-learn baselines on digits (seconds each), pipeline
files, registries made by a first pipeline run, digits as .npz files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_digits

FAST_EVALUATION = {"latency_samples": 20, "throughput_batch": 32, "latency_budget_s": 0.2, "bootstrap_resamples": 200}


def suite_dict(model: str = "logistic_regression", name: str = "retrain") -> dict:
    return {"name": name, "dataset": {"source": "digits"},
            "experiments": [{"name": model.replace("_", "-"), "model": {"sklearn": model}}],
            "selection": {"metric": "val_accuracy"}, "evaluation": FAST_EVALUATION}


def write_pipeline(folder: Path, *, model: str = "logistic_regression", data: dict | None = None,
                   registry: Path | None = None, **extra) -> Path:
    """A suite file and a pipeline file in ``folder``; returns the pipeline file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "suite.yaml").write_text(yaml.safe_dump(suite_dict(model)))
    spec = {"name": "digits-retrain", "suite": "suite.yaml",
            "data": data or {"source": "digits", "split": {"val": 0.15, "test": 0.25, "seed": 1}},
            "registry": str(registry or folder / "registry"), "runs_dir": str(folder / "runs"), **extra}
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def first_run(folder: Path, model: str, data: dict) -> Path:
    """A registry whose production version the first pipeline run on an empty registry made."""
    from practica.retrain import load_pipeline, run_pipeline

    run = run_pipeline(load_pipeline(write_pipeline(folder, model=model, data=data)))
    assert run.record.outcome == "promoted", run.record.message
    return folder / "registry"


def copy_registry(registry: Path, tmp_path: Path) -> Path:
    """A private copy, so one test's promotion never moves another's production."""
    target = tmp_path / "registry"
    shutil.copytree(registry, target)
    return target


def digits_npz(path: Path, indices, *, invert: bool = False) -> Path:
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None][indices]
    np.savez(path, x=255 - x if invert else x, y=d.target[indices])
    return path
