"""``practica run`` piped into a log, and its options: --version, --quiet, --experiments, --resume of a
finished run; a baseline that did not converge said in one line."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import yaml
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from practica import __version__
from practica.cli import app
from practica.cli.eta import SuiteClock, describe_left
from practica.models import baselines

runner = CliRunner()  # not a terminal: what CI logs and `| tee` get

LR = "logistic-regression-with-a-name-far-too-long-for-eighty-columns"
MLP = "small-dense-network-with-another-name-far-too-long-for-eighty-columns"
SUITE = {
    "name": "piped",
    "dataset": {"source": "digits", "max_samples": 300, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "experiments": [
        {"name": LR, "model": {"sklearn": "logistic_regression", "params": {"max_iter": 5}}},
        {"name": MLP, "model": {"arch": "mlp", "params": {"hidden": [16]}}, "train": {"epochs": 2}},
    ],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 10, "throughput_batch": 16},
}


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def write_suite(tmp_path) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    return str(path)


def test_version_prints_the_version_and_exits_0():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith(__version__)


def test_unknown_experiments_are_a_usage_error_listing_the_suites(tmp_path):
    result = invoke("run", write_suite(tmp_path), "--experiments", f"{LR},nope", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert f"has no experiment named 'nope'; its experiments are: {LR}, {MLP}" in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_piped_run_prints_whole_lines_then_resume_of_the_finished_run_changes_nothing(tmp_path):
    path, runs = write_suite(tmp_path), str(tmp_path / "runs")
    result = invoke("run", path, "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "…" not in out.replace("fitting the scikit-learn estimator…", "")  # nothing cut at 80 columns
    assert f"│ {LR} " in out and f"│ {MLP} " in out
    assert "  note: logistic regression did not converge in 5 iterations; raise model.params.max_iter" in out
    assert "ConvergenceWarning" not in out and "lbfgs" not in out
    assert "[2/2]" in out and "suite: under a minute left" in out  # after the first of two epochs

    (run_dir,) = (tmp_path / "runs" / "piped").iterdir()
    kept = [run_dir / "decision.json", run_dir / "report.html", run_dir / "experiments" / MLP / "cost.json"]
    stamps = [p.stat().st_mtime_ns for p in kept]
    resumed = invoke("run", path, "--runs-dir", runs, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"Run {run_dir.name} of suite 'piped' has already finished (complete" in resumed.output
    assert str(run_dir / "report.html") in resumed.output and "--reevaluate" in resumed.output
    assert [p.stat().st_mtime_ns for p in kept] == stamps  # nothing measured or written again

    again = invoke("run", path, "--runs-dir", runs, "--resume", "--reevaluate", "--quiet")
    assert again.exit_code == 0, again.output
    assert [p.stat().st_mtime_ns for p in kept] != stamps
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    lines = again.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Decision: "), again.output  # --quiet: the decision only


@pytest.mark.slow
def test_experiments_runs_only_those_and_the_run_says_so(tmp_path):
    result = invoke("run", write_suite(tmp_path), "--runs-dir", str(tmp_path / "runs"), "--experiments", f" {LR} ")
    assert result.exit_code == 0, result.output
    assert "1 of its 2 experiments (--experiments)" in result.output and MLP not in result.output
    (run_dir,) = (tmp_path / "runs" / "piped").iterdir()
    assert [p.name for p in (run_dir / "experiments").iterdir()] == [LR]
    assert [e["name"] for e in yaml.safe_load((run_dir / "suite.yaml").read_text())["experiments"]] == [LR]


def test_a_baseline_that_does_not_converge_gives_one_note_not_a_warning():
    x, y = load_digits(return_X_y=True)
    est = baselines.make_baseline("logistic_regression", {"max_iter": 3}, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that escapes fails the test
        fit = baselines.fit_baseline("logistic_regression", est, x[:200], y[:200], None)
    assert fit.notes == ("logistic regression did not converge in 3 iterations; raise model.params.max_iter "
                         "(e.g. to 6)",)
    assert fit.estimator is est and np.isfinite(est.predict_proba(x[:2])).all()
    converged = baselines.fit_baseline("naive_bayes", baselines.make_baseline("naive_bayes", {}, 0), x, y, None)
    assert converged.notes == ()


@pytest.mark.parametrize(("epochs", "timed", "expected"), [
    ([10, 0, 10], [], ""),  # nothing timed yet: no estimate
    ([10, 0, 10], [6.0], "about 2 min left"),  # 9 + 10 epochs at 6 s
    ([2], [6.0, 6.0], "under a minute left"),  # the last epoch done
    ([100, 100], [40.0], "about 2 h 13 min left"),  # 99 + 100 epochs at 40 s
])
def test_suite_clock_counts_the_epochs_left_at_the_pace_so_far(epochs, timed, expected):
    clock = SuiteClock(epochs)
    clock.start(1)
    for epoch, seconds in enumerate(timed, 1):
        clock.epoch_done(epoch, seconds)
    assert describe_left(clock.left()) == expected
