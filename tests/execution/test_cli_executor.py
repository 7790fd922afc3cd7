"""``practica run --executor local|processes|ray [--workers N] [--address ADDR]``."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from practica.cli import app

SUITE = {
    "name": "cli-exec",
    "dataset": {"source": "digits", "max_samples": 300, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "experiments": [
        {"name": "logreg", "model": {"sklearn": "logistic_regression", "params": {"max_iter": 500}}},
        {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [16]}}, "train": {"epochs": 2}},
    ],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 10, "throughput_batch": 16},
}


def run(tmp_path, *options: str):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    result = CliRunner().invoke(app, ["run", str(path), "--runs-dir", str(tmp_path / "runs"), *options])
    assert "Traceback" not in result.output
    return result, " ".join(result.output.split())


@pytest.mark.parametrize(("options", "message"), [
    (["--executor", "dask"], "unknown executor 'dask'; choose one of local, processes, ray"),
    (["--workers", "3"], "the local executor runs one unit at a time in this process; --workers 3 needs"),
    (["--executor", "processes", "--address", "10.0.0.1:6379"], "is for the Ray executor; add --executor ray"),
])
def test_a_bad_executor_option_is_a_usage_error_before_anything_is_written(tmp_path, options, message):
    result, output = run(tmp_path, *options)
    assert result.exit_code == 2 and message in output
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_run_on_worker_processes_prints_a_line_per_finished_experiment(tmp_path):
    result, output = run(tmp_path, "--executor", "processes", "--workers", "2")
    assert result.exit_code == 0, output
    assert "Training 2 experiments with the processes executor (2 worker processes)" in output
    assert "logreg done" in output and "mlp done" in output and "Decision:" in output
