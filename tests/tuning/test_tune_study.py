"""Studies on digits with a tiny MLP: pruning, a killed study and a killed trial resumed, the tuned experiment
in the run, and a two-objective front. Each trains a few 3-epoch trials."""

from __future__ import annotations

import copy
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from practica.cli import app
from practica.config import suite_from_dict
from practica.tuning import tune_suite
from practica.tuning.pruning import ReportEpochs

pytestmark = pytest.mark.slow

SUITE = {
    "name": "tuned",
    "dataset": {"source": "digits", "max_samples": 400, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "experiments": [{
        "name": "mlp",
        "model": {"arch": "mlp", "params": {"hidden": [16]}},
        "train": {"epochs": 3, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}},
        "tune": {
            # Far too low a learning rate: every sampled trial trails the declared one (trial 0) and is pruned.
            "space": {"train.optimizer.lr": {"float": [1e-6, 1e-5], "log": True},
                      "model.params.hidden": {"choice": [[16], [24]]}},
            "budget": {"trials": 2},
            "pruner": {"name": "median", "startup_trials": 1, "warmup_epochs": 1},
        },
    }],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 20, "throughput_batch": 32, "latency_budget_s": 0.2,
                   "bootstrap_resamples": 100},
}


def write_suite(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def load_study(run_dir: Path, name: str = "mlp") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir / 'tuning' / f'{name}.db'}")


def test_a_study_prunes_resumes_to_its_budget_and_its_best_joins_the_run(tmp_path):
    suite_file, runs = write_suite(tmp_path, SUITE), tmp_path / "runs"
    first = CliRunner().invoke(app, ["tune", str(suite_file), "--runs-dir", str(runs), "--trials", "2"])
    assert first.exit_code == 0, first.output
    (run_dir,) = (runs / "tuned").iterdir()
    assert len(load_study(run_dir).trials) == 2

    again = CliRunner().invoke(app, ["tune", str(suite_file), "--runs-dir", str(runs), "--trials", "4", "--resume"])
    assert again.exit_code == 0, again.output
    assert "Study mlp" in again.output and "pruned" in again.output and "as declared" in again.output
    study = load_study(run_dir)
    states = [t.state for t in study.trials]
    assert len(states) == 4 and states[0] == optuna.trial.TrialState.COMPLETE
    assert states.count(optuna.trial.TrialState.PRUNED) >= 2
    # The tuning storage contract, as the report's tuning section reads it.
    assert study.user_attrs["objectives"] == ["val_accuracy"]
    assert study.user_attrs["pruner"] == "median" and study.user_attrs["sampler"] == "tpe"
    assert study.user_attrs["untuned_value"] == study.trials[0].value
    pruned = next(t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    assert pruned.user_attrs["epochs_trained"] == max(pruned.intermediate_values) < 3
    assert study.trials[0].user_attrs["config"]["train"]["optimizer"]["lr"] == 0.01  # trial 0: as declared
    assert study.trials[0].intermediate_values.keys() == {1, 2, 3}

    tuned = yaml.safe_load((run_dir / "tuning" / "mlp-tuned.yaml").read_text())
    assert tuned["name"] == "mlp-tuned" and "tune" not in tuned
    suite = suite_from_dict(yaml.safe_load((run_dir / "suite.yaml").read_text()), base_dir=run_dir)
    assert [e.name for e in suite.experiments] == ["mlp", "mlp-tuned"]
    assert (run_dir / "experiments" / "mlp-tuned" / "metrics.json").is_file()
    assert (run_dir / "report.html").is_file() and (run_dir / "decision.json").is_file()


def test_a_trial_interrupted_mid_training_continues_from_its_last_epoch(tmp_path, monkeypatch):
    data = copy.deepcopy(SUITE)
    data["experiments"][0]["tune"] |= {"pruner": "none", "budget": {"trials": 2},
                                       "space": {"train.optimizer.lr": {"float": [1e-3, 1e-2], "log": True}}}
    suite = suite_from_dict(data)
    original = ReportEpochs.on_epoch_end

    def interrupt_trial_1(self, loop, record):
        original(self, loop, record)
        if self.trial.number == 1 and record.epoch == 2:  # after its epoch-2 checkpoint is written
            raise KeyboardInterrupt

    monkeypatch.setattr(ReportEpochs, "on_epoch_end", interrupt_trial_1)
    with pytest.raises(KeyboardInterrupt):
        tune_suite(suite, runs_root=tmp_path)
    epochs_seen: list[tuple[int, int]] = []

    def count(self, loop, record):
        epochs_seen.append((self.trial.number, record.epoch))
        original(self, loop, record)

    monkeypatch.setattr(ReportEpochs, "on_epoch_end", count)
    result = tune_suite(suite, runs_root=tmp_path, resume=True)
    study = load_study(result.run_dir)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    rerun = study.trials[2]
    assert rerun.user_attrs["resume_of"] == 1 and rerun.params == study.trials[1].params
    assert epochs_seen == [(2, 3)]  # only the epoch left: epochs 1 and 2 came from trial 1's checkpoint
    assert rerun.intermediate_values.keys() == {1, 2, 3} and rerun.user_attrs["epochs_trained"] == 3
    assert result.studies[0].count("complete") == 2


def test_accuracy_against_latency_gives_a_pareto_front(tmp_path):
    data = copy.deepcopy(SUITE)
    data["experiments"][0]["tune"] = {"space": {"model.params.hidden": {"choice": [[8], [64, 64]]},
                                                "train.optimizer.lr": {"float": [1e-3, 1e-2], "log": True}},
                                      "objective": ["val_accuracy", "latency"], "budget": {"trials": 3}}
    result = tune_suite(suite_from_dict(data), runs_root=tmp_path)
    (summary,) = result.studies
    assert summary.objectives == ("val_accuracy", "latency_p50_ms") and summary.sampler == "nsga2"
    study = load_study(result.run_dir)
    assert study.user_attrs["objectives"] == ["val_accuracy", "latency_p50_ms"]
    front = {t.number for t in study.best_trials}
    assert set(summary.best) <= front and summary.best
    assert all(t.user_attrs["latency_p50_ms"] > 0 for t in study.trials)
    names = [r.name for r in result.suite_run.results]
    assert names[:2] == ["mlp", "mlp-tuned"]
    assert all(n == "mlp-tuned" or n.startswith("mlp-pareto-") for n in names[1:])
    for name in names[1:]:
        assert (result.run_dir / "tuning" / f"{name}.yaml").is_file()
