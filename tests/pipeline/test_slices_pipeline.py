"""Slices through a whole run: slices.json per experiment, the audit in the selection, the report's error
analysis with its mistakes grid; a declared slice the data cannot honour stops the run before training."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml
from tests_support import tiny_suite_dict

from practica.config.load import suite_from_dict
from practica.errors import ConfigError
from practica.pipeline.suite import run_suite
from practica.results import Ok

EXAMPLES = Path(str(resources.files("practica") / "examples"))


def quick_suite(**evaluation) -> dict:
    raw = tiny_suite_dict()
    raw["experiments"] = [{"name": "nb", "model": {"sklearn": "naive_bayes"}},
                          {"name": "logreg", "model": {"sklearn": "logistic_regression"}}]
    raw["evaluation"].update(evaluation)
    return raw


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    raw = quick_suite(min_slice_samples=5)  # a class has 8 validation samples in this small set
    # naive Bayes is the weaker on digits (62.5% on the 3s): a floor the logistic regression meets everywhere
    raw["selection"]["slice_floors"] = {"*": 0.75}
    return run_suite(suite_from_dict(raw), runs_root=root / "runs")


def test_every_experiment_is_scored_on_every_slice_and_keeps_it(run):
    for r in run.results:
        assert isinstance(r, Ok) and r.slices is not None
        kept = json.loads((run.run_dir / "experiments" / r.name / "slices.json").read_text())
        assert kept["metric"] == "val_accuracy" and len(kept["slices"]) == len(r.slices.slices)
        assert {"class: 0", "brightness: Q1 (darkest)", "contrast: Q4 (highest)"} <= {s["name"] for s in kept["slices"]}


def test_the_report_shows_what_to_work_on_and_the_mistakes(run):
    md = (run.run_dir / "report.md").read_text()
    html = (run.run_dir / "report.html").read_text()
    assert "Error analysis: where" in md and "Every experiment on every slice" in md
    assert "Most of the error to win back is in" in md or "is the best of the suite on every slice" in md
    if "### Most confident mistakes" in md:
        assert (run.run_dir / "report_files" / "mistakes.png").is_file()
        assert 'alt="The chosen model&#39;s most confident mistakes on validation"' in html
    assert "Performance audit (selection.slice_floors): * ≥ 75.0%" in md


def test_the_audit_rejects_a_model_below_a_floor(run):
    ranked = {r.experiment: r for r in run.decision.ranking}
    assert run.decision.chosen == "logreg"
    nb = ranked["nb"]
    assert nb.status == "rejected" and nb.reason.startswith("performance audit: ") and "slice_floors" in nb.reason
    assert "on the slice 'class: 3' (8 validation samples)" in nb.reason and "62.5%" in nb.reason
    assert "floor of 75.0%" in nb.reason


def test_a_bad_declared_slice_stops_the_run_before_any_run_directory(tmp_path):
    raw = quick_suite(slices=[{"folder_level": 1}])
    with pytest.raises(ConfigError, match="samples have no path"):
        run_suite(suite_from_dict(raw), runs_root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    raw = quick_suite()
    raw["selection"]["slice_floors"] = {"class: ten": 0.5}
    with pytest.raises(ConfigError, match="selection.slice_floors names the slice 'class: ten'"):
        run_suite(suite_from_dict(raw), runs_root=tmp_path / "runs")


def test_a_regression_on_a_table_is_sliced_by_mae_and_lists_its_largest_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("PRACTICA_CACHE_DIR", str(tmp_path / "cache"))
    raw = yaml.safe_load((EXAMPLES / "penguins_mass.yaml").read_text())
    raw["dataset"]["path"] = str(EXAMPLES / "penguins.csv")
    raw["experiments"] = [{"name": "linear", "model": {"sklearn": "linear_regression"}},
                          {"name": "ridge", "model": {"sklearn": "ridge"}}]
    raw["evaluation"] = {"latency_samples": 5, "throughput_batch": 32, "slices": [{"column": "island"}]}
    run = run_suite(suite_from_dict(raw), runs_root=tmp_path / "runs")
    chosen = next(r for r in run.results if r.name == run.decision.chosen)
    assert isinstance(chosen, Ok) and chosen.slices is not None and chosen.slices.metric == "val_mae"
    assert chosen.slices.get("island: Dream") is not None and chosen.slices.get("species: Gentoo") is not None
    md = (run.run_dir / "report.md").read_text()
    assert "### Largest errors" in md and "| Sample | species | island |" in md and "| True | Predicted | Error |" in md
    assert "Slices are scored by validation MAE, the per-sample counterpart of the selection's validation R²" in md
    if "Most of the error to win back" in md:
        assert "would take" in md and "off the whole validation MAE" in md
