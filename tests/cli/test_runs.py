"""``practica runs list | show | compare`` on two tiny finished runs that differ in one setting."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from practica.cli import app

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def two_runs_suite(lr: float) -> dict:
    return {
        "name": "tiny-runs",
        "dataset": {"source": "digits", "max_samples": 300, "split": {"val": 0.25, "test": 0.2, "seed": 0}},
        "defaults": {"train": {"epochs": 2, "batch_size": 64, "optimizer": {"name": "adam", "lr": lr}}},
        "experiments": [
            {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [16]}}},
            {"name": "nb", "model": {"sklearn": "naive_bayes"}},
        ],
        "selection": {"metric": "val_accuracy"},
        "evaluation": {"latency_samples": 10, "throughput_batch": 16, "bootstrap_resamples": 200},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished runs of one suite under ``root``, the second with a 10× learning rate: (root, ids)."""
    from practica.config.load import suite_from_dict
    from practica.pipeline.suite import run_suite

    root = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(root.parent / "cache"))
    try:
        ids = [run_suite(suite_from_dict(two_runs_suite(lr)), runs_root=root).run_id for lr in (0.001, 0.01)]
    finally:
        mp.undo()
    return root, ids


def test_list_shows_every_run_newest_first(runs):
    root, (first, second) = runs
    result = invoke("runs", "list", "--runs-dir", root)
    assert result.exit_code == 0, result.output
    out = result.output
    assert second in out and first in out and out.index(second) < out.index(first)
    assert "tiny-runs" in out and "complete" in out and "val_accuracy" in out and "%" in out
    assert invoke("runs", "list", "tiny-runs", "--runs-dir", root).exit_code == 0
    in_suite_folder = invoke("runs", "list", "--runs-dir", root / "tiny-runs")  # one suite's folder as the root
    assert in_suite_folder.exit_code == 0 and first in in_suite_folder.output


def test_show_gives_the_decision_and_each_experiment(runs):
    root, (first, _) = runs
    for ref in (first, root / "tiny-runs" / first, f"tiny-runs/{first}"):
        result = invoke("runs", "show", ref, "--runs-dir", root)
        assert result.exit_code == 0, result.output
        out = result.output
        assert "Decision:" in out and "mlp" in out and "nb" in out and "chosen" in out
        assert "p50 latency" in out and "ms (" in out  # the latency with its interval


def test_compare_shows_the_lr_difference_metrics_and_decisions(runs, tmp_path):
    from practica.reporting import plots
    from practica.reporting.figcheck import text_problems

    root, (first, second) = runs
    html = tmp_path / "compare.html"
    problems: list[str] = []
    with plots.inspecting(lambda fig: problems.extend(text_problems(fig))):
        result = invoke("runs", "compare", first, second, "--runs-dir", root, "--html", html)
    assert result.exit_code == 0, result.output
    out = result.output
    assert first in out and second in out
    (line,) = [line for line in out.splitlines() if "train.optimizer.lr" in line]
    assert "0.001 → 0.01" in line and line.rstrip().endswith("in mlp")  # naive Bayes has no learning rate
    assert "the same in every run" in out  # one data set, one split
    assert "%" in out and ("within noise" in out or "beyond noise" in out or "the same figure" in out)
    assert "Decisions:" in out and "approximate" in out
    page = html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "Validation curves" in page
    assert "train.optimizer.lr" in page and first in page and second in page
    assert problems == []


def test_an_older_run_without_intervals_lists_and_compares(runs, tmp_path):
    root, (first, second) = runs
    old_root = tmp_path / "runs"
    old = old_root / "tiny-runs" / first
    shutil.copytree(root / "tiny-runs" / first, old)
    shutil.copytree(root / "tiny-runs" / second, old_root / "tiny-runs" / second)
    for metrics in old.glob("experiments/*/metrics.json"):
        record = json.loads(metrics.read_text())
        record.pop("intervals")
        for key in ("latency_p50_interval", "latency_p95_interval", "latency_calls"):
            record["cost"].pop(key)
        metrics.write_text(json.dumps(record))
    (old / "data" / "summary.json").unlink()  # no fingerprint either
    listed = invoke("runs", "list", "--runs-dir", old_root)
    assert listed.exit_code == 0 and first in listed.output
    result = invoke("runs", "compare", first, second, "--runs-dir", old_root)
    assert result.exit_code == 0, result.output
    assert "no interval recorded" in result.output or "the same figure" in result.output
    assert "fingerprint" in result.output  # says the data may differ


def test_an_unfinished_run_lists_but_cannot_be_shown(runs, tmp_path):
    root, (first, _) = runs
    copy = tmp_path / "runs" / "tiny-runs" / first
    shutil.copytree(root / "tiny-runs" / first, copy)
    (copy / "decision.json").unlink()
    status = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**status, "status": "interrupted"}))
    listed = invoke("runs", "list", "--runs-dir", tmp_path / "runs")
    assert listed.exit_code == 0 and "interrupted" in listed.output and "—" in listed.output
    shown = invoke("runs", "show", first, "--runs-dir", tmp_path / "runs")
    assert shown.exit_code == 2 and "has not finished" in shown.output and "--resume" in shown.output


@pytest.mark.parametrize(("args", "expected"), [
    (("show", "19990101-000000"), "no run '19990101-000000'"),
    (("show", "2"), "names 2 runs"),  # a prefix of both
    (("compare", "FIRST"), "two runs or more"),
    (("compare", "FIRST", "FIRST"), "given twice"),
    (("compare", "FIRST", "19990101"), "no run '19990101'"),
    (("list", "no-such-suite"), "its suites: tiny-runs"),
])
def test_bad_references_are_clear_errors(runs, args, expected):
    root, (first, _) = runs
    result = invoke("runs", *(first if a == "FIRST" else a for a in args), "--runs-dir", root)
    assert result.exit_code == 2 and expected in result.output, result.output


def test_a_folder_that_is_not_a_run_and_a_missing_runs_dir(runs, tmp_path):
    root, (first, second) = runs
    result = invoke("runs", "show", tmp_path, "--runs-dir", root)
    assert result.exit_code == 2 and "not a run directory" in result.output
    for args in (("list",), ("show", first), ("compare", first, second)):
        result = invoke("runs", *args, "--runs-dir", tmp_path / "nowhere")
        assert result.exit_code == 2 and "no runs folder" in result.output, result.output


def test_compare_html_into_a_folder_is_refused(runs, tmp_path):
    root, (first, second) = runs
    result = invoke("runs", "compare", first, second, "--runs-dir", root, "--html", tmp_path)
    assert result.exit_code == 2 and "is a folder" in result.output


@pytest.mark.parametrize(("nested", "flat"), [
    ({"train": {"optimizer": {"lr": 0.01}}}, {"train.optimizer.lr": 0.01}),
    ({"params": {"hidden": [32, 16]}}, {"params.hidden": [32, 16]}),
    ({"layers": [{"conv": 8}, "relu"]}, {"layers.length": 2, "layers.0.conv": 8, "layers.1": "relu"}),
    ({"augment": None}, {"augment": None}),
])
def test_flatten(nested, flat):
    from practica.runs import flatten

    assert flatten(nested) == flat


def test_runs_on_different_data_are_flagged(runs, tmp_path):
    root, (first, second) = runs
    other = tmp_path / "runs"
    for run_id in (first, second):
        shutil.copytree(root / "tiny-runs" / run_id, other / "tiny-runs" / run_id)
    summary = other / "tiny-runs" / second / "data" / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "fingerprint": "0" * 64}))
    result = invoke("runs", "compare", first, second, "--runs-dir", other)
    assert result.exit_code == 0, result.output
    assert "the runs used different data" in result.output and "000000000000" in result.output
    assert "compared unpaired" in result.output
