"""examples/diabetes.yaml end to end (a few epochs): run, report, bundle (ONNX parity), serve, predict,
and a network regressor exported too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from practica.bundle.load import load_bundle
from practica.config.load import suite_from_dict
from practica.io import read_json
from practica.pipeline.export import export_run
from practica.pipeline.suite import run_suite

pytestmark = pytest.mark.slow  # every test shares a module fixture that trains the whole suite (~10 s)

EXAMPLE = Path(__file__).parents[2] / "examples" / "diabetes.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["defaults"]["train"]["epochs"] = 4  # fast: the pipeline, not the model, is under test
    raw["evaluation"] = {"latency_samples": 20, "throughput_batch": 32}
    return run_suite(suite_from_dict(raw, base_dir=EXAMPLE.parent), runs_root=tmp_path_factory.mktemp("runs"))


def test_the_example_file_is_packaged_too():
    packaged = Path(__file__).parents[2] / "src" / "practica" / "examples" / "diabetes.yaml"
    assert packaged.read_text() == EXAMPLE.read_text()


def test_every_experiment_is_scored_as_a_regression(run):
    assert run.splits.train.task == "regression" and run.decision.metric == "val_r2"
    for r in run.results:
        assert r.status == "ok", r.error
        val = r.evaluation.val.regression
        assert val is not None and np.isfinite(val.r2) and val.rmse > 0 and r.diagnosis is not None
    ols = run.result("linear-regression").evaluation
    assert 0.3 < ols.val.regression.r2 < 0.7 and 0.4 < ols.test.regression.r2 < 0.7  # published: about 0.5
    chosen = run.result(run.decision.chosen)
    assert chosen.evaluation.val.regression.r2 >= max(r.evaluation.val.regression.r2 for r in run.results) - 0.01
    assert (run.run_dir / "experiments" / "mlp-small" / "history.csv").read_text().startswith(
        "epoch,train_loss,val_loss,lr,seconds,train_r2,val_r2,val_mae")


def test_the_report_speaks_regression(run):
    import re

    html = re.sub(r"base64,[A-Za-z0-9+/=]+", "", (run.run_dir / "report.html").read_text())
    md = (run.run_dir / "report.md").read_text()
    for text in (html, md):
        assert "Val R²" in text and "Test R²" in text and "regression" in text
        assert "Confusion" not in text and "Precision" not in text and "ECE" not in text
    assert (run.run_dir / "report_files" / "predicted-vs-actual.png").is_file()
    assert (run.run_dir / "report_files" / "target.png").is_file()
    assert not (run.run_dir / "report_files" / "class-counts.png").exists()
    assert read_json(run.run_dir / "data" / "summary.json")["task"] == "regression"


def test_the_bundle_predicts_values_as_the_model_does(run):
    bundle = load_bundle(run.bundle)
    card = bundle.card
    assert card["task"] == "regression" and bundle.task == "regression" and card["output"]["onnx_name"] == "value"
    assert card["onnx_parity"]["max_abs_diff"] <= card["onnx_parity"]["tolerance"]
    assert set(card["metrics"]["test"]) >= {"r2", "rmse", "mae"}
    values = bundle.predict_values(run.splits.test.x)
    assert values.shape == (len(run.splits.test),)
    r2 = 1 - np.mean((values - run.splits.test.y) ** 2) / np.var(run.splits.test.y)
    assert r2 == pytest.approx(run.result(run.decision.chosen).evaluation.test.regression.r2, abs=1e-4)
    outputs = bundle.reference()["outputs"]
    assert {"prediction_mean", "prediction_std", "prediction_histogram"} <= set(outputs)


def test_a_network_regressor_exports_with_parity(run):
    path = export_run(run.run_dir, "mlp-small", overwrite=True)
    bundle = load_bundle(path)
    assert bundle.kind == "network" and bundle.task == "regression"
    torch_out = bundle.torch_model()(__import__("torch").from_numpy(run.splits.test.x)).detach().numpy()
    assert np.allclose(bundle.predict_proba(run.splits.test.x), torch_out, atol=1e-3)


def test_the_server_answers_values(run):
    from fastapi.testclient import TestClient

    from practica.serving.app import create_app

    bundle = load_bundle(run.bundle)
    x = run.splits.test.x[:3]
    with TestClient(create_app(bundle)) as client:
        reply = client.post("/v1/predict", json={"inputs": [{"features": row.tolist()} for row in x]})
        assert reply.status_code == 200, reply.text
        predictions = reply.json()["predictions"]
        assert [set(p) for p in predictions] == [{"value", "ood"}] * 3
        assert np.allclose([p["value"] for p in predictions], bundle.predict_values(x), atol=1e-4)
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert "ValuePrediction" in schema


def test_practica_predict_writes_a_prediction_column(run, tmp_path):
    from practica.prediction.batch import Predictions
    from practica.prediction.output import write_rows

    bundle = load_bundle(run.bundle)
    x, y = run.splits.test.x[:5], run.splits.test.y[:5]
    names = bundle.input.feature_names
    lines = [",".join([*names, "target"])] + [
        ",".join([*map(str, row.tolist()), f"{t:g}"]) for row, t in zip(x, y, strict=True)
    ]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    predictions = Predictions(bundle, [tmp_path / "in.csv"])
    write_rows(predictions, tmp_path / "out.csv")
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["input", "prediction"]
    values = [float(r.split(",")[1]) for r in rows[1:]]
    assert np.allclose(values, bundle.predict_values(x), rtol=1e-5)
    assert predictions.summary.mae == pytest.approx(float(np.mean(np.abs(np.array(values) - y))), rel=1e-4)
    assert predictions.summary.accuracy is None
