"""A decision threshold end to end on breast_cancer (two classes, malignant first): chosen on validation after
the selection, recorded in threshold.json, shown in the report, carried into the bundle, and applied by
``practica predict`` and ``practica serve``; a bundle without one (older, or none set) predicts the most
probable class."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from serving_support import serving
from typer.testing import CliRunner

from practica.bundle import load_bundle
from practica.bundle.manifest import write_manifest
from practica.cli import app
from practica.config.load import suite_from_dict
from practica.evaluation.thresholds import choose_threshold
from practica.pipeline.export import export_run
from practica.pipeline.rundir import RunDir
from practica.pipeline.suite import run_suite
from practica.prediction import Item, predict_items

SUITE = {
    "name": "bc",
    "dataset": {"source": "breast_cancer", "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "experiments": [
        {"name": "logreg", "model": {"sklearn": "logistic_regression", "params": {"max_iter": 2000}}},
        {"name": "knn", "model": {"sklearn": "knn"}},
    ],
    "selection": {"metric": "val_macro_f1", "threshold": {"positive": "malignant", "metric": "recall",
                                                            "at_least": 0.95}},
    "evaluation": {"latency_samples": 20},
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache):
    return run_suite(suite_from_dict(SUITE), runs_root=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def low(run, tmp_path_factory, cache):
    """A bundle of the chosen model whose threshold sits under a test sample's p(malignant) < 0.5: that
    sample is predicted benign by the most probable class, malignant by the threshold. Exported by
    ``practica export`` from a copy of the run whose threshold.json says so."""
    bundle = load_bundle(run.bundle)
    probs = bundle.predict_proba(run.splits.test.x)
    p = probs[:, 0]
    candidates = np.flatnonzero((p < 0.5) & (p > 0.01))
    assert len(candidates), "the test split needs a sample with 0.01 < p(malignant) < 0.5"
    i = int(candidates[np.argmax(p[candidates])])
    threshold = float(p[i]) / 2
    copy = RunDir(shutil.copytree(run.run_dir, tmp_path_factory.mktemp("copy") / run.run_id))
    copy.write_threshold(run.threshold.model_copy(update={"threshold": threshold}))
    path = export_run(copy.path, out=copy.path / "bundle-low")
    return load_bundle(path, threads=1), run.splits.test.x[i : i + 1], float(p[i]), threshold


def test_the_run_chooses_on_validation_and_records_the_threshold(run):
    choice = run.threshold
    assert choice is not None and choice.experiment == run.decision.chosen
    assert choice.threshold is not None and choice.val.recall >= 0.95
    assert choice.val.positives == int((run.splits.val.y == 0).sum())  # malignant is class 0
    assert RunDir(run.run_dir).read_threshold() == choice


def test_the_bundle_card_carries_the_threshold(run):
    bundle = load_bundle(run.bundle)
    card = bundle.card["threshold"]
    assert bundle.threshold is not None
    assert (bundle.threshold.positive, bundle.threshold.value) == ("malignant", run.threshold.threshold)
    assert card["target"] == {"metric": "recall", "at_least": 0.95} and card["chosen_on"] == "val"
    assert card["val"]["recall"] == pytest.approx(run.threshold.val.recall)
    assert card["test"]["precision"] == pytest.approx(run.threshold.test.precision)


def test_the_report_shows_the_curves_and_the_threshold(run):
    md = (run.run_dir / "report.md").read_text()
    html = (run.run_dir / "report.html").read_text()
    assert "## 6. Precision and recall, and the decision threshold" in md
    assert f"| p(malignant) ≥ {run.threshold.threshold:.3f} | test |" in md
    assert "| most probable class | validation |" in md
    assert "report_files/precision-recall.png" in md and (run.run_dir / "report_files/precision-recall.png").is_file()
    assert 'id="precision-recall"' in html and "AP is the average precision" in html


def test_a_probability_between_the_threshold_and_one_half_is_predicted_positive(low):
    bundle, x, p, threshold = low
    assert threshold <= p < 0.5
    assert bundle.threshold.value == pytest.approx(threshold)
    assert bundle.classes[int(bundle.decide(bundle.predict_proba(x))[0])] == "malignant"
    (row,) = predict_items(bundle, [Item("x", array=x[0])])
    assert (row.prediction, row.probability) == ("malignant", pytest.approx(p))
    assert row.top_k[0][0] == "benign"  # still the most probable class


@pytest.mark.anyio
async def test_the_server_applies_the_threshold_and_says_so(low):
    bundle, x, p, threshold = low
    async with serving(bundle) as client:
        r = await client.post("/v1/predict", json={"inputs": [{"features": x[0].tolist()}]})
    body = r.json()
    assert r.status_code == 200
    assert body["threshold"] == {"positive": "malignant", "value": pytest.approx(threshold)}
    (prediction,) = body["predictions"]
    assert (prediction["label"], prediction["probability"]) == ("malignant", pytest.approx(p, rel=1e-5))
    assert prediction["top_k"][0]["label"] == "benign"


@pytest.mark.anyio
async def test_a_bundle_without_a_threshold_predicts_the_most_probable_class(low, tmp_path):
    bundle, x, _, _ = low
    old = shutil.copytree(bundle.root, tmp_path / "old")
    card = json.loads((old / "bundle.json").read_text())
    del card["threshold"]  # as bundles were written before thresholds
    (old / "bundle.json").write_text(json.dumps(card))
    write_manifest(old)
    older = load_bundle(old, threads=1)
    assert older.threshold is None
    (row,) = predict_items(older, [Item("x", array=x[0])])
    assert row.prediction == "benign"
    async with serving(older) as client:
        body = (await client.post("/v1/predict", json={"inputs": [{"features": x[0].tolist()}]})).json()
    assert body["threshold"] is None and body["predictions"][0]["label"] == "benign"


def test_predict_prints_the_threshold_it_applies(low, tmp_path):
    bundle, x, _, threshold = low
    rows = tmp_path / "x.json"
    rows.write_text(json.dumps([{"features": x[0].tolist()}]))
    result = CliRunner().invoke(app, ["predict", str(bundle.root), str(rows)])
    assert result.exit_code == 0, result.output
    assert f"decision threshold: malignant when p(malignant) ≥ {threshold:.3f}" in " ".join(result.output.split())


def test_exporting_another_experiment_chooses_its_own_threshold(run, tmp_path, cache):
    other = next(r.experiment for r in run.decision.ranking if r.experiment != run.decision.chosen)
    bundle = load_bundle(export_run(run.run_dir, other, tmp_path / "other"))
    kept = RunDir(run.run_dir).experiment(other).read_predictions()
    expected = choose_threshold(run.suite.selection.threshold, run.splits.classes, other,
                                (kept.val, run.splits.val.y), (kept.test, run.splits.test.y))
    assert bundle.card["threshold"]["value"] == expected.threshold
    assert bundle.card["threshold"]["note"] == expected.note


def test_a_multi_class_report_has_one_curve_per_class_and_no_threshold(tiny_run):
    md = (tiny_run.run_dir / "report.md").read_text()
    assert "## 6. Precision and recall\n" in md and "decision threshold" not in md
    assert "each class against the rest" in md
