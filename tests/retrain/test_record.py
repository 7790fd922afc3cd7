"""pipeline.json is written as the pipeline goes: a killed or interrupted run shows the step it stopped in."""

from __future__ import annotations

import json

import pytest
from retrain_support import write_pipeline

import practica.pipeline.suite
from practica.retrain import load_pipeline, run_pipeline


def _read(runs) -> dict:
    [run] = list((runs / "digits-retrain").iterdir())
    return json.loads((run / "pipeline.json").read_text())


def test_the_record_shows_the_running_step_and_an_interruption(tmp_path, monkeypatch):
    seen = {}

    def interrupted_suite(*args, **kwargs):
        seen.update(_read(tmp_path / "runs"))  # what a kill at this moment would leave
        raise KeyboardInterrupt

    monkeypatch.setattr(practica.pipeline.suite, "run_suite", interrupted_suite)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(load_pipeline(write_pipeline(tmp_path)))
    steps = {s["name"]: s["status"] for s in seen["steps"]}
    assert seen["outcome"] == "running"
    assert steps == {"hygiene": "passed", "suite": "running", "compare": "pending", "register": "pending",
                     "promote": "pending"}
    after = _read(tmp_path / "runs")
    assert after["outcome"] == "interrupted" and after["exit_code"] == 130
    assert [s["status"] for s in after["steps"]] == ["passed", "failed", "skipped", "skipped", "skipped"]
    assert not (tmp_path / "registry").exists()  # nothing registered


def test_an_error_is_recorded_then_raised(tmp_path, monkeypatch):
    from practica.errors import DataError

    def broken(*args, **kwargs):
        raise DataError("the data vanished")

    monkeypatch.setattr(practica.pipeline.suite, "run_suite", broken)
    with pytest.raises(DataError):
        run_pipeline(load_pipeline(write_pipeline(tmp_path)))
    record = _read(tmp_path / "runs")
    assert record["outcome"] == "failed" and record["exit_code"] == 2
    assert record["steps"][1]["message"] == "DataError: the data vanished"


def test_a_damaged_registry_stops_the_pipeline_before_anything_is_written(tmp_path):
    from practica.errors import RegistryError

    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "registry.json").write_text("{}")
    with pytest.raises(RegistryError, match="is not a practica registry's state file"):
        run_pipeline(load_pipeline(write_pipeline(tmp_path)))
    assert not (tmp_path / "runs").exists()
