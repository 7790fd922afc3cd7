"""The command line as a user meets it: clear errors with exit code 2, never a traceback."""

from __future__ import annotations

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


def test_run_prints_the_decision_and_writes_the_report(tmp_path):
    from tests_support import tiny_suite_dict

    path = write_suite(tmp_path, tiny_suite_dict())
    result = invoke("run", path, "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert "Decision:" in result.output and "goes to production" in result.output
    assert list((tmp_path / "runs" / "tiny").glob("*/report.html"))


def test_a_suite_that_cannot_start_leaves_no_run_directory(tmp_path):
    path = write_suite(tmp_path, {"name": "x", "dataset": {"source": "digits"},
                                  "experiments": [{"name": "a", "model": {"layers": ["flatten", {"conv": 4}]}}]})
    result = invoke("run", path, "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "needs an image input" in result.output
    assert not (tmp_path / "runs").exists()
