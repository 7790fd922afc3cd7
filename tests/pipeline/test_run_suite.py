"""The case study end to end on a small slice of digits: every stage leaves its record on disk."""

from __future__ import annotations

import json

import pytest

from practica.config import suite_from_dict
from practica.errors import ConfigError, RunError
from practica.pipeline.suite import run_suite


@pytest.mark.slow
def test_run_writes_every_stage(tiny_suite, tmp_path):
    run = run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    d = run.run_dir
    assert d.parent == tmp_path / "tiny"
    for name in ("suite.yaml", "run.json", "decision.json", "report.html", "report.md",
                 "data/summary.json", "data/splits.json"):
        assert (d / name).is_file(), name
    for exp in ("mlp", "cnn", "nb"):
        for f in ("spec.json", "result.json", "metrics.json", "diagnosis.json", "cost.json"):
            assert (d / "experiments" / exp / f).is_file(), (exp, f)
    for exp in ("mlp", "cnn"):
        assert (d / "experiments" / exp / "model.safetensors").is_file()
        assert (d / "experiments" / exp / "history.csv").read_text().startswith("epoch,train_loss")
    status = json.loads((d / "run.json").read_text())
    assert status["status"] == "complete" and status["chosen"] == run.decision.chosen
    assert run.decision.chosen in {"mlp", "cnn", "nb"}
    assert all(r.diagnosis is not None and r.evaluation is not None for r in run.results)
    splits = json.loads((d / "data/splits.json").read_text())
    assert len(splits["train"]) + len(splits["val"]) + len(splits["test"]) == 400
    assert not set(splits["train"]) & set(splits["test"])
    html = (d / "report.html").read_text()
    assert run.decision.chosen in html and "mlp" in html


@pytest.mark.slow
def test_resume_of_a_finished_run_keeps_its_results(tiny_suite, tmp_path):
    first = run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    again = run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path, resume=True)
    assert again.run_dir == first.run_dir
    for a, b in zip(first.results, again.results, strict=True):
        assert a.evaluation.val == b.evaluation.val
        assert (a.history is None) == (b.history is None)
        if a.history:
            assert a.history.epochs == b.history.epochs


@pytest.mark.slow
def test_resume_refuses_a_changed_suite(tiny_suite, tmp_path):
    run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    tiny_suite["defaults"]["train"]["epochs"] = 4
    with pytest.raises(RunError, match="the suite changed"):
        run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path, resume=True)


def test_resume_with_nothing_to_resume(tiny_suite, tmp_path):
    with pytest.raises(RunError, match="nothing to resume"):
        run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path, resume=True)
    with pytest.raises(RunError, match="no run 'nope'"):
        run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path, resume=True, run_id="nope")


def test_impossible_model_is_caught_before_any_training(tiny_suite, tmp_path):
    tiny_suite["experiments"].append({"name": "bad", "model": {"layers": ["flatten", {"conv": 8}]}})
    with pytest.raises(ConfigError, match=r"experiments\[3\] \(bad\)\.model: layer 1 \(conv\) needs an image input"):
        run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    assert not list((tmp_path / "tiny").glob("*/experiments/*/result.json"))


def test_augmentation_too_large_for_the_images(tiny_suite, tmp_path):
    tiny_suite["experiments"][1]["augment"] = [{"crop": 8}]
    with pytest.raises(ConfigError, match="too large for 8×8"):
        run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)


@pytest.mark.slow
def test_a_failing_experiment_does_not_sink_the_suite(tiny_suite, tmp_path):
    # max_samples below the class count cannot be stratified by the baseline's subset: a real failure.
    tiny_suite["experiments"].append({"name": "tree", "model": {"sklearn": "decision_tree"},
                                      "train": {"max_samples": 5}})
    run = run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    tree = run.result("tree")
    assert tree.status == "failed" and tree.error
    assert run.decision.chosen != "tree"
    assert "tree" in (run.run_dir / "report.html").read_text()
