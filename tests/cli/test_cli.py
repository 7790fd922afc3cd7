"""The command line as a user meets it: clear errors with exit code 2, never a traceback."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from typer.testing import CliRunner

from practica.cli import app, default_suite

runner = CliRunner()


def write_suite(tmp_path, data) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def invoke(*args):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_bad_suite_exits_2_with_the_problem(tmp_path):
    path = write_suite(tmp_path, {"name": "x", "dataset": {"source": "digits"},
                                  "experiments": [{"name": "a", "model": {"arch": "resnet21"}}]})
    for command in ("run", "validate"):
        result = invoke(command, path)
        assert result.exit_code == 2
        assert "unknown arch 'resnet21'" in result.output and "resnet20" in result.output


def test_missing_suite_file(tmp_path):
    result = invoke("run", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "not found" in result.output


def test_missing_data_folder_is_a_clear_error(tmp_path):
    path = write_suite(tmp_path, {"name": "x", "dataset": {"source": "folder", "path": "no/such/folder"},
                                  "experiments": [{"name": "a", "model": {"arch": "mlp"}}]})
    result = invoke("run", path, "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "no/such/folder" in result.output


def test_resume_without_a_run(tmp_path):
    path = write_suite(tmp_path, {"name": "x", "dataset": {"source": "digits"},
                                  "experiments": [{"name": "a", "model": {"arch": "mlp"}}]})
    result = invoke("run", path, "--resume", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "nothing to resume" in result.output


def test_validate_and_the_default_suite():
    assert default_suite().is_file()
    result = invoke("validate", str(default_suite()))
    assert result.exit_code == 0 and "ok" in result.output and "cnn-augmented" in result.output


@pytest.mark.slow
def test_run_prints_the_decision_and_writes_the_report(tmp_path):
    from tests_support import tiny_suite_dict

    path = write_suite(tmp_path, tiny_suite_dict())
    result = invoke("run", path, "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert "Decision:" in result.output and "goes to production" in result.output
    assert list((tmp_path / "runs" / "tiny").glob("*/report.html"))


def test_run_prints_the_precision_each_network_trains_in_as_training_starts(tmp_path):
    mlp = {"arch": "mlp", "params": {"hidden": [16]}}
    suite = {"name": "t", "dataset": {"source": "digits"},
             "experiments": [{"name": "a", "model": mlp, "train": {"epochs": 1, "precision": "auto"}},
                             {"name": "b", "model": mlp, "train": {"epochs": 1}}]}
    result = invoke("run", write_suite(tmp_path, suite), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert "precision auto → " in result.output and "precision fp32" in result.output


def test_a_suite_that_cannot_start_leaves_no_run_directory(tmp_path):
    path = write_suite(tmp_path, {"name": "x", "dataset": {"source": "digits"},
                                  "experiments": [{"name": "a", "model": {"layers": ["flatten", {"conv": 4}]}}]})
    result = invoke("run", path, "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "needs an image input" in result.output
    assert not (tmp_path / "runs").exists()


def suite_with(tmp_path, dataset: dict, model: dict | None = None, **top) -> str:
    return write_suite(tmp_path, {"name": "x", "dataset": dataset, **top,
                                  "experiments": [{"name": "a", "model": model or {"arch": "mlp"}}]})


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and result.output.count("error:") == 1, result.output
    return " ".join(result.output.split())  # rich wraps long lines at the terminal's width


@pytest.mark.parametrize(
    "dataset, expected",
    [
        ({"source": "folder", "path": "no/such/folder"}, "no/such/folder does not exist"),
        ({"source": "folder", "path": "data.npz"}, "data.npz is a file, not a folder"),
        ({"source": "npz", "path": "images"}, "images is a folder, not a file"),
        ({"source": "npz", "path": "/dev/zero"}, "/dev/zero is not a regular file"),
        ({"source": "folder", "path": "images", "test": {"source": "npz", "path": "test.npz"}},
         "dataset.test.path"),
    ],
)
def test_validate_checks_the_data_paths_without_reading_them(tmp_path, dataset, expected):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "data.npz").write_bytes(b"")
    result = invoke("validate", suite_with(tmp_path, dataset))
    assert expected in one_error(result)


def test_validate_accepts_data_paths_of_the_right_kind(tmp_path):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "data.npz").write_bytes(b"")
    result = invoke("validate", suite_with(tmp_path, {"source": "folder", "path": "images",
                                                      "test": {"source": "npz", "path": "data.npz"}}))
    assert result.exit_code == 0 and "ok" in result.output


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: " + "[" * 20_000 + "\n", "nests values 51 levels deep"),
        ("name: x\ndataset: {source: digits}\nexperiments:\n  - name: a\n    model:\n      sklearn: knn\n"
         "      params:\n        metric_params:\n          l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
         + "".join(f"          l{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
         "holds over 100,000 values once its aliases"),
    ],
)
def test_validate_refuses_hostile_yaml(tmp_path, text, expected):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    assert expected in one_error(invoke("validate", str(path)))


@pytest.mark.parametrize(
    "model, top, expected",
    [
        ({"arch": "mlp", "params": {"hidden": "big"}}, {}, "params.hidden of arch 'mlp'"),
        ({"arch": "mlp"}, {"defaults": {"train": {"epochs": True}}}, "'epochs' takes a number, not a boolean"),
        ({"arch": "mlp"}, {"defaults": {"train": {"optimizer": {"lr": float("inf")}}}}, "expected a finite number"),
        ({"layers": ["flatten", {"dense": 10_000_000}]}, {}, "dense.units"),
        ({"arch": "mlp"}, {"evaluation": {"latency_samples": 10**9}}, "evaluation.latency_samples"),
    ],
)
def test_validate_refuses_values_that_would_fail_later(tmp_path, model, top, expected):
    result = invoke("validate", suite_with(tmp_path, {"source": "digits", "split": {"seed": 0}}, model, **top))
    assert expected in one_error(result)


def test_validate_refuses_a_negative_seed(tmp_path):
    result = invoke("validate", suite_with(tmp_path, {"source": "digits", "split": {"seed": -1}}))
    assert "dataset.split.seed" in one_error(result)


def test_exit_codes_say_an_experiment_failed_or_no_model_was_chosen(tmp_path):
    from tests_support import tiny_suite_dict

    suite = tiny_suite_dict()
    # max_samples below the class count cannot be stratified by the baseline's subset: it fails.
    suite["experiments"] = [{"name": "nb", "model": {"sklearn": "naive_bayes"}},
                            {"name": "tree", "model": {"sklearn": "decision_tree"}, "train": {"max_samples": 5}}]
    result = invoke("run", write_suite(tmp_path, suite), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 3, result.output
    assert "1 of 2 experiments failed: tree" in result.output and "traceback in" in result.output
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    assert (run_dir / "report.html").is_file()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "partial"

    suite["experiments"] = suite["experiments"][:1]
    suite["selection"]["constraints"] = {"params": 1}
    result = invoke("run", write_suite(tmp_path, suite), "--runs-dir", str(tmp_path / "runs2"))
    assert result.exit_code == 4, result.output
    assert "No model meets the selection policy" in result.output
    (run_dir,) = (tmp_path / "runs2" / "tiny").iterdir()
    assert (run_dir / "report.html").is_file() and not (run_dir / "bundle").exists()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


def test_ctrl_c_stops_the_progress_bar_and_says_how_to_resume_this_run(tmp_path, monkeypatch):
    from tests_support import tiny_suite_dict

    from practica import cli
    from practica.cli import suite as suite_commands

    def interrupted(self, record):
        raise KeyboardInterrupt

    suite = tiny_suite_dict()
    suite["experiments"] = suite["experiments"][:1]
    path, runs = write_suite(tmp_path, suite), str(tmp_path / "my runs")
    with monkeypatch.context() as m:
        m.setattr(suite_commands._EpochProgress, "epoch_end", interrupted)
        result = invoke("run", path, "--runs-dir", runs)
    assert result.exit_code == 130
    assert not cli.console._live_stack  # the live progress line was stopped before the message
    (run_dir,) = (tmp_path / "my runs" / "tiny").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    hint = next(line for line in result.output.splitlines() if "Continue with: " in line).split("Continue with: ")[1]
    command = shlex.split(hint)
    assert command == ["practica", "run", path, "--runs-dir", runs, "--resume", "--run-id", run_dir.name]
    resumed = invoke(*command[1:])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"


def _folder_with_a_copy(root) -> None:
    """Two classes of 30 random 8×8 images, and one image of 'a' saved twice."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / name / f"{i:02d}.png")
    (root / "a" / "copy.png").write_bytes((root / "a" / "00.png").read_bytes())


def _folder_suite(tmp_path, **clean) -> str:
    _folder_with_a_copy(tmp_path / "imgs")
    return write_suite(tmp_path, {
        "name": "copies", "dataset": {"source": "folder", "path": str(tmp_path / "imgs"), "clean": clean,
                                      "split": {"val": 0.2, "test": 0.2}},
        "experiments": [{"name": "nb", "model": {"sklearn": "naive_bayes"}}],
        "evaluation": {"latency_samples": 5, "throughput_batch": 8}})


def test_run_prints_every_sample_cleaning_dropped(tmp_path):
    path = _folder_suite(tmp_path)  # 1 of 31 'a': within the default max_drop (5%)
    result = invoke("run", path, "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "Data: 36 train (60%), 12 val (20%), 12 test (20%)" in output
    line = ("cleaning (duplicates: drop_exact) dropped 1 of 61 samples (1.6%), exact duplicate(s); "
            "hardest hit 'a' 1 of 31")
    assert output.count(line) == 2  # as the data loads, and again in the summary after training


def test_run_stops_before_training_when_cleaning_would_drop_more_than_max_drop(tmp_path):
    result = invoke("run", _folder_suite(tmp_path, max_drop=0.02), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "cleaning would drop 1 of the 61 samples (1.6%), more than dataset.clean.max_drop (0.02)" in output
    assert "'a' 1 of 31 (3.2%)" in output and "dataset.clean.max_drop: 0.04" in output
    assert not (tmp_path / "runs").exists()
