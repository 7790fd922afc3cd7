"""A suite's experiments through each executor: the same decision and the same records in the run directory,
a worker killed mid-training retried from its checkpoint, a unit that dies twice recorded as failed.

Ray runs as a real local instance (2 CPUs), started once for the session."""

from __future__ import annotations

import json

import pytest
from crashing_executor import CrashingExecutor
from unit_functions import die_every_time, die_mid_training

from practica.config import suite_from_dict
from practica.execution import get_executor
from practica.pipeline.suite import SilentReporter, run_suite

pytestmark = pytest.mark.slow

SUITE = {
    "name": "exec",
    "dataset": {"source": "digits", "max_samples": 400, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "defaults": {"train": {"epochs": 3, "batch_size": 64}},
    "experiments": [
        {"name": "logreg", "model": {"sklearn": "logistic_regression", "params": {"max_iter": 500}}},
        {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [16]}}},
    ],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 10, "throughput_batch": 16},
}


class Lines(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def stage(self, message: str) -> None:
        self.lines.append(message)


def _records(run) -> dict[str, dict]:
    """Each experiment's result.json, less what differs between two runs of the same training (its times)."""
    out = {}
    for exp in ("logreg", "mlp"):
        record = json.loads((run.run_dir / "experiments" / exp / "result.json").read_text())
        record.pop("train_seconds")
        for epoch in (record.get("history") or {}).get("epochs", []):
            epoch.pop("seconds")
        out[exp] = record
    return out


def _decided(decision) -> tuple:
    """The decision less its wording, which quotes measured latencies (they differ from run to run)."""
    return decision.chosen, decision.metric, tuple(
        (r.experiment, r.value, r.status, r.interval, r.difference, r.p_value, r.tie) for r in decision.ranking)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return run_suite(suite_from_dict(SUITE), runs_root=tmp_path_factory.mktemp("local"))


def test_every_executor_gives_the_same_decision_and_records(kind, tmp_path, local_run):
    executor = get_executor(kind, workers=2)
    lines = Lines()
    run = run_suite(suite_from_dict(SUITE), runs_root=tmp_path, executor=executor, reporter=lines)
    executor.close()
    assert f"Training 2 experiments with the {executor.describe()}" in lines.lines
    assert _decided(run.decision) == _decided(local_run.decision)
    assert _records(run) == _records(local_run)
    assert [r.status for r in run.results] == ["ok", "ok"] and run.status == "complete"


def test_a_worker_killed_mid_training_is_retried_from_its_checkpoint_and_its_result_lands(
        kind, tmp_path, local_run):
    executor = CrashingExecutor(get_executor(kind, workers=2), die_mid_training, tmp_path / "killed-once",
                                unit="mlp")
    lines = Lines()
    run = run_suite(suite_from_dict(SUITE), runs_root=tmp_path / "runs", executor=executor, reporter=lines)
    (died,) = [line for line in lines.lines if line.startswith("mlp: its worker died")]
    assert died.endswith("it ran again from its checkpoint")
    assert run.status == "complete" and _decided(run.decision) == _decided(local_run.decision)
    assert _records(run) == _records(local_run)  # resumed from epoch 1's checkpoint, to the same weights


def test_a_unit_whose_worker_dies_twice_is_recorded_as_a_failed_experiment(kind, tmp_path):
    executor = CrashingExecutor(get_executor(kind, workers=2), die_every_time, None, unit="mlp")
    run = run_suite(suite_from_dict(SUITE), runs_root=tmp_path, executor=executor)
    assert run.failed == ("mlp",) and run.status == "partial" and run.decision.chosen == "logreg"
    mlp = next(r for r in run.results if r.name == "mlp")
    assert mlp.error.startswith("the worker running 'mlp' died on each of its 2 attempts")
    record = json.loads((run.run_dir / "experiments" / "mlp" / "result.json").read_text())
    assert record["status"] == "failed" and record["error"] == mlp.error
