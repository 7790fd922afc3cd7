"""The penguins example end to end: a CSV table with missing values through run, export (ONNX parity on
rows with missing values and unseen categories), serving with named features, predict and inspect."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from practica.bundle import load_bundle
from practica.cli import app
from practica.config.load import suite_from_dict
from practica.data.sources.tabular import UNKNOWN_CODE
from practica.pipeline.experiment import load_predictor
from practica.pipeline.export import export_run
from practica.pipeline.rundir import RunDir
from practica.pipeline.suite import run_suite

pytestmark = pytest.mark.slow  # every test shares a module fixture that trains the whole suite (~20 s)

runner = CliRunner()
EXAMPLES = Path(str(resources.files("practica") / "examples"))
PENGUINS_CSV = EXAMPLES / "penguins.csv"


def quick_penguins() -> dict:
    """examples/penguins.yaml as shipped, made quick: fewer epochs, trees and timed samples."""
    raw = yaml.safe_load((EXAMPLES / "penguins.yaml").read_text())
    raw["dataset"]["path"] = str(PENGUINS_CSV)
    raw["defaults"]["train"]["epochs"] = 8
    raw["evaluation"] = {"latency_samples": 5, "throughput_batch": 32}
    for exp in raw["experiments"]:
        if exp["model"].get("sklearn") == "random_forest":
            exp["model"]["params"] = {"n_estimators": 10}
    return raw


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    root = tmp_path_factory.mktemp("penguins")
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(root / "cache"))
    try:
        run = run_suite(suite_from_dict(quick_penguins()), runs_root=root / "runs")
        bundles = {name: export_run(run.run_dir, name, root / name)
                   for name in ("dense", "random-forest", "logistic-regression")}
    finally:
        mp.undo()
    return run, bundles


def awkward_rows(run) -> np.ndarray:
    """Test rows, and copies with every kind of gap: missing numbers, missing and unknown categories."""
    x = run.splits.test.x[:6].copy()
    names = run.splits.train.feature_names
    holes = x.copy()
    holes[:, names.index("bill_length_mm")] = np.nan
    holes[:3, names.index("island")] = UNKNOWN_CODE
    holes[3:, names.index("sex")] = np.nan
    return np.concatenate([x, holes])


def test_the_run_trains_every_model_on_the_table(penguins) -> None:
    run, _ = penguins
    assert run.splits.train.table is not None and run.splits.train.x.shape[1] == 7
    assert {r.name for r in run.results} == {"dense", "logistic-regression", "knn", "decision-tree", "random-forest"}
    for r in run.results:
        assert r.status == "ok", r.error
        assert r.evaluation.val.classification.accuracy > 0.85, (r.name, r.evaluation.val.classification.accuracy)
    assert run.hygiene.check("missing_values").status == "warning"
    lineage = json.loads((run.run_dir / "data" / "lineage.json").read_text())
    assert any(d["rule"] == "missing_values" and d["action"] == "keep" for d in lineage["cleaning"]["decisions"])


@pytest.mark.parametrize("name", ["dense", "random-forest", "logistic-regression"])
def test_the_onnx_model_matches_on_missing_values_and_unseen_categories(penguins, name) -> None:
    run, bundles = penguins
    bundle = load_bundle(bundles[name], threads=1)
    assert bundle.card["onnx_parity"]["max_abs_diff"] <= 1e-4
    assert bundle.input.table == run.splits.train.table and "preprocessing" in bundle.card["model"]
    x = awkward_rows(run)
    predictor = load_predictor(run.suite.experiment(name), run.splits, RunDir(run.run_dir).experiment(name))
    got = bundle.predict_proba(x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, predictor.predict_proba(x), atol=1e-4)


def test_the_network_bundle_rebuilds_in_torch_with_its_preprocessing(penguins) -> None:
    import torch

    run, bundles = penguins
    bundle = load_bundle(bundles["dense"], threads=1)
    x = awkward_rows(run)
    with torch.no_grad():
        got = bundle.torch_model()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, bundle.predict_proba(x), atol=1e-4)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_serving_takes_named_columns(penguins, anyio_backend) -> None:
    import httpx

    from practica.serving import ServeSettings, create_app

    _, bundles = penguins
    bundle = load_bundle(bundles["dense"], threads=1)
    app = create_app(bundle, ServeSettings())
    row = {"island": "Biscoe", "bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
           "body_mass_g": 3750, "sex": "male", "year": 2007}
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.post("/v1/predict", json={"inputs": [
                {"features": row},
                {"features": {**row, "island": "Atlantis", "sex": None, "bill_length_mm": None}},  # unknown, missing
                {"features": {"island": "Dream"}},  # every other column missing
                {"features": list(row.values())},
            ]})
            wrong_type = await client.post("/v1/predict",
                                           json={"inputs": [{"features": {**row, "body_mass_g": "heavy"}}]})
            unknown = await client.post("/v1/predict", json={"inputs": [{"features": {**row, "wings": 2}}]})
            schema = (await client.get("/openapi.json")).json()
    assert ok.status_code == 200, ok.text
    predictions = ok.json()["predictions"]
    assert len(predictions) == 4 and predictions[0]["label"] == predictions[3]["label"] == "Adelie"
    assert wrong_type.status_code == 422 and "'body_mass_g' is 'heavy'" in wrong_type.json()["error"]["message"]
    assert unknown.status_code == 422 and "unknown column 'wings'" in unknown.json()["error"]["message"]
    assert "island" in json.dumps(schema)


def test_predict_reads_a_csv_table_and_reports_accuracy(penguins, tmp_path: Path) -> None:
    _, bundles = penguins
    lines = PENGUINS_CSV.read_text().splitlines()
    table = tmp_path / "some.csv"
    table.write_text("\n".join(lines[:31] + ["Adelie,Mars,40,18,190,3500,female,2007",
                                            "Adelie,Dream,forty,18,190,3500,female,2007"]) + "\n")
    out = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(bundles["random-forest"]), str(table), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "31 predicted, 1 failed" in text and "accuracy" in text
    assert "column 'bill_length_mm' is 'forty'" in text


def test_inspect_a_bare_csv_table() -> None:
    result = runner.invoke(app, ["data", "inspect", str(PENGUINS_CSV)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "csv ·" in text and "warning Missing values" in text and "column sex: NaN in 11 rows" in text
    assert "Outliers" in text and "Identifier-like columns" in text


def test_practica_run_on_the_example(tmp_path: Path) -> None:
    raw = quick_penguins()
    raw["experiments"] = [e for e in raw["experiments"] if e["name"] in ("dense", "decision-tree")]
    suite = tmp_path / "penguins.yaml"
    suite.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["run", str(suite), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "goes to production" in " ".join(result.output.split())
    assert list((tmp_path / "runs" / "penguins").glob("*/bundle/model.onnx"))
