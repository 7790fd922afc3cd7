"""The pipeline end to end on digits: a first run, a promotion, a challenger that loses, a class that regresses,
and the record each leaves."""

from __future__ import annotations

import json

import pytest
import yaml
from retrain_support import copy_registry, write_pipeline

from practica.registry import Registry
from practica.retrain import EXIT_NO_MODEL, EXIT_NOT_PROMOTED, EXIT_PROMOTED, load_pipeline, run_pipeline

pytestmark = pytest.mark.slow


def _record(run) -> dict:
    return json.loads((run.path / "pipeline.json").read_text())


def test_first_run_registers_and_promotes(strong_registry):
    reg = Registry(strong_registry)
    assert reg.aliases() == {"production": 1}
    [event_register, event_promote] = reg.history()
    assert event_register["event"] == "register" and event_promote["event"] == "promote"
    assert "first pipeline run" in event_promote["reason"]
    runs = list((strong_registry.parent / "runs" / "digits-retrain").iterdir())
    record = json.loads((runs[0] / "pipeline.json").read_text())
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["compare"]["status"] == "skipped"
    assert "no 'production' version" in steps["compare"]["message"]
    assert steps["promote"]["status"] == "passed" and record["exit_code"] == EXIT_PROMOTED


def test_a_better_challenger_is_promoted(weak_registry, tmp_path):
    registry = copy_registry(weak_registry, tmp_path)
    run = run_pipeline(load_pipeline(write_pipeline(tmp_path, registry=registry)))
    record = _record(run)
    assert record["outcome"] == "promoted" and record["exit_code"] == EXIT_PROMOTED
    assert [s["status"] for s in record["steps"]] == ["passed"] * 5
    for step in record["steps"]:
        assert step["started"] and step["finished"] and step["message"]
    compare = record["steps"][2]["evidence"]
    assert compare["gain"] > 0.005 and compare["production_version"] == 1
    assert len(compare["per_class"]) == 10
    # production trained on 300 of the digits, some of them in the new test split: left out of the comparison
    overlap = record["steps"][0]["evidence"]["production_overlap"]
    assert overlap["method"] == "sample names in the same file" and overlap["count"] > 0
    assert compare["samples"] == record["steps"][0]["evidence"]["comparison_samples"]
    assert Registry(registry).aliases() == {"production": 2}
    assert (run.path / "comparison.json").is_file() and (run.path / "hygiene.json").is_file()


def test_a_worse_challenger_is_registered_not_promoted(strong_registry, tmp_path):
    registry = copy_registry(strong_registry, tmp_path)
    run = run_pipeline(load_pipeline(write_pipeline(tmp_path, model="naive_bayes", registry=registry)))
    record = _record(run)
    assert record["outcome"] == "not_promoted" and record["exit_code"] == EXIT_NOT_PROMOTED
    promote = record["steps"][4]
    assert promote["status"] == "failed"
    assert "under promotion.min_gain" in promote["message"]
    reg = Registry(registry)
    assert reg.aliases() == {"production": 1}  # unmoved
    assert [v.number for v in reg.versions()] == [1, 2]  # the challenger is still registered, as a candidate
    assert "not promoted" in reg.version(2).note


def test_a_class_that_regresses_blocks_the_promotion(strong_registry, tmp_path):
    registry = copy_registry(strong_registry, tmp_path)
    path = write_pipeline(tmp_path, model="naive_bayes", registry=registry,
                          promotion={"min_gain": -1.0, "max_class_regression": 0.0})
    run = run_pipeline(load_pipeline(path))
    record = _record(run)
    assert record["exit_code"] == EXIT_NOT_PROMOTED
    promote = record["steps"][4]
    assert "regress past promotion.max_class_regression" in promote["message"]
    assert "min_gain" not in promote["message"].split(". The challenger")[0]
    assert promote["evidence"]["regressed_classes"]
    assert Registry(registry).aliases() == {"production": 1}


def test_no_model_chosen_means_no_challenger(tmp_path):
    path = write_pipeline(tmp_path, model="naive_bayes")
    suite = yaml.safe_load((tmp_path / "suite.yaml").read_text())
    suite["selection"]["constraints"] = {"size_mb": 1e-6}  # no model is that small
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    run = run_pipeline(load_pipeline(path))
    record = _record(run)
    assert record["outcome"] == "failed" and record["exit_code"] == EXIT_NO_MODEL
    assert record["steps"][1]["status"] == "failed" and "no challenger" in record["steps"][1]["message"]
    assert not (tmp_path / "registry").exists()
