"""The shipped example pipelines and the scheduled CI workflow are valid as they are."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from practica.retrain import load_pipeline

EXAMPLES = Path(str(resources.files("practica") / "examples"))


@pytest.mark.parametrize("name", ["digits_pipeline_first.yaml", "digits_pipeline.yaml"])
def test_example_pipelines_validate(name, tmp_path):
    pipeline = load_pipeline(EXAMPLES / name, registry=tmp_path / "registry", runs_dir=tmp_path / "runs")
    assert pipeline.suite.dataset.source == "digits"
    assert pipeline.spec.registry == tmp_path / "registry"


def test_the_ci_workflow_runs_an_example_on_a_schedule():
    workflow = yaml.safe_load((Path(__file__).parents[2] / "examples" / "ci" / "retrain.yml").read_text())
    assert workflow[True]["schedule"][0]["cron"]  # YAML 1.1 reads the key `on` as True
    script = next(s["run"] for s in workflow["jobs"]["retrain"]["steps"] if s.get("id") == "pipeline")
    assert "practica pipeline src/practica/examples/digits_pipeline.yaml" in script
