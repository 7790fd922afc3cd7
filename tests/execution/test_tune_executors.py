"""A study's trials through each executor, two at a time: the same trials (params, values, states, per-epoch
values) and the same decision in-process, on worker processes and on Ray; a worker killed mid-trial retried
from the trial's checkpoint to the same value; a trial whose worker dies twice told FAIL, the study going on.

Ray runs as a real local instance (2 CPUs), started once for the session."""

from __future__ import annotations

import copy
from pathlib import Path

import optuna
import pytest
from crashing_executor import CrashingExecutor
from unit_functions import die_every_time, die_mid_trial

from practica.config import suite_from_dict
from practica.execution import get_executor
from practica.execution.local import LocalExecutor
from practica.tuning import tune_suite

pytestmark = pytest.mark.slow

SUITE = {
    "name": "tune-exec",
    "dataset": {"source": "digits", "max_samples": 300, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "experiments": [{
        "name": "mlp",
        "model": {"arch": "mlp", "params": {"hidden": [16]}},
        "train": {"epochs": 3, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}},
        "tune": {
            "space": {"train.optimizer.lr": {"float": [1e-4, 3e-2], "log": True},
                      "model.params.hidden": {"choice": [[8], [16]]}},
            "budget": {"trials": 5},
            "pruner": {"name": "median", "startup_trials": 1, "warmup_epochs": 1},
            "seed": 0,
        },
    }],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 10, "throughput_batch": 16, "latency_budget_s": 0.2,
                   "bootstrap_resamples": 100},
}


def _trials(run_dir: Path) -> list[tuple]:
    """Each trial as the study holds it: number, state, params, values, per-epoch values, epochs trained."""
    study = optuna.load_study(study_name="mlp", storage=f"sqlite:///{run_dir / 'tuning' / 'mlp.db'}")
    return [(t.number, t.state.name, t.params, t.values, t.intermediate_values, t.user_attrs.get("epochs_trained"))
            for t in study.trials]


def _decided(decision) -> tuple:
    """The decision less its wording, which quotes measured latencies (they differ from run to run). Trial 0
    (the declared experiment) is the best, so ``mlp-tuned`` is ``mlp``'s model again: the two tie on cost
    whatever their timings and ``mlp`` is kept, on every executor (it once went by which was timed faster)."""
    return decision.chosen, decision.metric, tuple(
        (r.experiment, r.value, r.status, r.interval, r.difference, r.p_value, r.tie) for r in decision.ranking)


@pytest.fixture(scope="module")
def local_study(tmp_path_factory):
    """The reference: in-process, two trials asked at a time and trained one after the other."""
    return tune_suite(suite_from_dict(SUITE), runs_root=tmp_path_factory.mktemp("local"), executor=LocalExecutor(),
                      batch=2)


def test_a_batched_study_in_process_asks_each_batch_knowing_only_the_batches_before(local_study):
    states = [t[1] for t in _trials(local_study.run_dir)]
    assert len(states) == 5 and states[:2] == ["COMPLETE", "COMPLETE"]  # batch 0: no complete trial to judge by
    assert "PRUNED" in states[2:]  # later batches judged against the complete trials of the batches before
    assert local_study.studies[0].best and local_study.suite_run.status == "complete"


def test_every_executor_gives_the_same_trials_and_decision(kind, tmp_path, local_study):
    executor = get_executor(kind, workers=2)
    lines: list[str] = []
    result = tune_suite(suite_from_dict(SUITE), runs_root=tmp_path, executor=executor, batch=2, say=lines.append)
    executor.close()
    assert f"mlp: trials 2 at a time with the {executor.describe()}" in lines
    assert _trials(result.run_dir) == _trials(local_study.run_dir)
    assert result.studies[0].best == local_study.studies[0].best
    assert _decided(result.suite_run.decision) == _decided(local_study.suite_run.decision)
    assert result.suite_run.decision.chosen == "mlp"  # not its copy mlp-tuned, however the two were timed


def test_a_worker_killed_mid_trial_loses_nothing_the_trial_resumes_to_the_same_value(
        kind, tmp_path, local_study):
    executor = CrashingExecutor(get_executor(kind, workers=2), die_mid_trial, tmp_path / "killed-once",
                                unit="mlp-trial-1")
    lines: list[str] = []
    result = tune_suite(suite_from_dict(SUITE), runs_root=tmp_path / "runs", executor=executor, batch=2,
                        say=lines.append)
    (died,) = [line for line in lines if line.startswith("mlp: trial 1's worker died")]
    assert died.endswith("it ran again from its last checkpoint")
    assert (tmp_path / "killed-once").exists()  # it was killed, after its first epoch's checkpoint
    assert _trials(result.run_dir) == _trials(local_study.run_dir)  # trial 1's value and curve included
    assert _decided(result.suite_run.decision) == _decided(local_study.suite_run.decision)


def test_a_trial_whose_worker_dies_twice_is_failed_with_the_reason_and_the_study_goes_on(kind, tmp_path):
    executor = CrashingExecutor(get_executor(kind, workers=2), die_every_time, None, unit="mlp-trial-1")
    data = copy.deepcopy(SUITE)
    data["experiments"][0]["tune"]["budget"] = {"trials": 4}
    result = tune_suite(suite_from_dict(data), runs_root=tmp_path, executor=executor, batch=2)
    study = optuna.load_study(study_name="mlp", storage=f"sqlite:///{result.run_dir / 'tuning' / 'mlp.db'}")
    states = [t.state.name for t in study.trials]
    assert len(states) == 4 and states[1] == "FAIL" and "RUNNING" not in states
    assert study.trials[1].user_attrs["error"].startswith(
        "the worker running 'mlp-trial-1' died on each of its 2 attempts")
    assert [r.state for r in result.studies[0].trials][1] == "failed"
    assert result.studies[0].trials[1].note.startswith("the worker running 'mlp-trial-1' died")
    assert result.suite_run.status == "complete" and "mlp-tuned" in [r.name for r in result.suite_run.results]
