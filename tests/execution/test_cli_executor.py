"""``practica run`` and ``practica tune`` with ``--executor local|processes|ray [--workers N] [--address ADDR]``."""

from __future__ import annotations

import sys
import time

import pytest
import yaml
from typer.testing import CliRunner

from practica.cli import app
from practica.tuning import trial_executor

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


TUNE_SUITE = {
    **SUITE,
    "name": "cli-tune-exec",
    "experiments": [{"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [16]}}, "train": {"epochs": 2},
                     "tune": {"space": {"train.optimizer.lr": {"float": [1e-3, 1e-1], "log": True}},
                              "budget": {"trials": 2}}}],
}


def tune(tmp_path, *options: str):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(TUNE_SUITE))
    result = CliRunner().invoke(app, ["tune", str(path), "--runs-dir", str(tmp_path / "runs"), *options])
    assert "Traceback" not in result.output
    return result, " ".join(result.output.split())


@pytest.mark.parametrize(("options", "message"), [
    (["--executor", "dask"], "unknown executor 'dask'; choose one of local, processes, ray"),
    (["--workers", "0"], "workers must be a whole number of 1 or more; got 0"),
    (["--executor", "processes", "--workers", "-2"], "workers must be a whole number of 1 or more; got -2"),
    (["--executor", "processes", "--address", "10.0.0.1:6379"], "is for the Ray executor; add --executor ray"),
    (["--address", "10.0.0.1:6379"], "is for the Ray executor; add --executor ray"),
])
def test_a_bad_tune_executor_option_is_a_usage_error_before_anything_is_written(tmp_path, options, message):
    result, output = tune(tmp_path, *options)
    assert result.exit_code == 2 and message in output
    assert not (tmp_path / "runs").exists()


def test_tune_on_ray_without_ray_installed_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as it does where Ray is not installed
    result, output = tune(tmp_path, "--executor", "ray")
    assert result.exit_code == 2 and "the Ray executor needs Ray, which is not installed" in output
    assert "pip install 'practica[ray]'" in output and not (tmp_path / "runs").exists()


def test_tune_on_an_unreachable_ray_address_says_so_at_once(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'practica[ray]')")
    started = time.perf_counter()
    result, output = tune(tmp_path, "--executor", "ray", "--address", "127.0.0.1:9")  # nothing listens there
    assert result.exit_code == 2 and "cannot reach a Ray cluster at '127.0.0.1:9'" in output
    assert "ray start --head" in output and not (tmp_path / "runs").exists()
    assert time.perf_counter() - started < 30  # not Ray's minutes of retries


def test_tune_batches_trials_by_workers_even_in_process():
    executor, batch = trial_executor("local", workers=3)
    assert executor.in_process and batch == 3  # sampled as a 3-worker study would be, trained one by one
    assert trial_executor("local")[1] == 1
    executor, batch = trial_executor("processes", workers=2)
    assert executor.describe() == "processes executor (2 worker processes)" and batch == 2
