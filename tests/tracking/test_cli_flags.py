"""``practica run --mlflow --tensorboard`` (``--mlflow-uri URI``, ``--tensorboard-dir DIR``), and a resumed run
that logs again without duplicates."""

from __future__ import annotations

import pytest
import yaml
from conftest import tracked_suite
from typer.testing import CliRunner

from practica.cli import app

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow")


def test_flags_turn_tracking_on_and_a_resume_replaces_the_runs(tmp_path) -> None:
    data = tracked_suite()
    del data["tracking"]  # off in the suite: the flags alone turn it on
    data["experiments"] = [e for e in data["experiments"] if e["name"] == "nb"]
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(data))
    runs, board = tmp_path / "runs", tmp_path / "board"

    first = CliRunner().invoke(app, ["run", str(suite), "--runs-dir", str(runs), "--mlflow", "--tensorboard-dir",
                                     str(board), "--quiet"])
    assert first.exit_code == 0, first.output
    (run_dir,) = (runs / "tiny").iterdir()
    assert (board / run_dir.name / "nb").is_dir()
    uri = f"sqlite:///{runs.resolve() / 'mlflow.db'}"

    # Resumed with MLflow only (the flags are not part of the suite, so the run still resumes).
    again = CliRunner().invoke(app, ["run", str(suite), "--runs-dir", str(runs), "--resume", "--reevaluate",
                                     "--mlflow-uri", uri, "--quiet"])
    assert again.exit_code == 0, again.output
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(f"tiny/{run_dir.name}")
    names = sorted(r.info.run_name for r in client.search_runs([exp.experiment_id]))
    assert names == ["decision", "nb"]  # the first attempt's runs were replaced, not doubled
    assert len(client.search_model_versions("name = 'tiny'")) == 2  # a version per logging of the bundle
