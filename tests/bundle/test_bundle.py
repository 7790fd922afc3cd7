"""The bundle: written by a run and by ``practica export``, verified on load, faithful in ONNX."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from practica.bundle import load_bundle
from practica.bundle.export import PARITY_TOLERANCE
from practica.cli import app
from practica.config.load import suite_from_dict
from practica.errors import BundleError, RunError
from practica.pipeline.export import export_run
from practica.pipeline.suite import run_suite

runner = CliRunner()


def test_a_run_writes_its_chosen_models_bundle(tiny_run, baseline_bundle):
    bundle = load_bundle(baseline_bundle)
    card = bundle.card
    assert baseline_bundle == tiny_run.run_dir / "bundle"
    assert card["model"]["experiment"] == tiny_run.decision.chosen
    assert card["selection"]["chosen"] is True and card["selection"]["reason"]
    assert card["lineage"]["data_fingerprint"] == tiny_run.splits.fingerprint
    assert card["lineage"]["run_id"] == tiny_run.run_id
    chosen = tiny_run.result(tiny_run.decision.chosen).evaluation
    assert card["metrics"]["test"]["accuracy"] == chosen.test.classification.accuracy
    assert bundle.input.kind == "image" and bundle.input.shape == (8, 8, 1)
    assert bundle.classes == tiny_run.splits.classes
    files = {p.name for p in baseline_bundle.iterdir()}
    assert files == {"bundle.json", "model.onnx", "reference.json", "ood.json", "suite.yaml", "lineage.json",
                     "manifest.json"}
    for report in ("report.html", "report.md"):  # the report says where the bundle is and how to serve it
        assert f"practica serve {baseline_bundle}" in (tiny_run.run_dir / report).read_text()


def test_network_bundle_agrees_with_pytorch_on_the_test_split(tiny_run, cnn_bundle):
    bundle = load_bundle(cnn_bundle)
    assert {p.name for p in cnn_bundle.iterdir()} >= {"weights.safetensors", "model.onnx"}
    x = tiny_run.splits.test.x
    onnx_proba = bundle.predict_proba(x)
    with torch.inference_mode():
        torch_proba = bundle.torch_model()(torch.from_numpy(x)).numpy()
    assert np.abs(onnx_proba - torch_proba).max() <= PARITY_TOLERANCE
    np.testing.assert_allclose(onnx_proba.sum(axis=1), 1.0, atol=1e-5)
    # The accuracy the bundle gives is the one the run reported.
    accuracy = float((onnx_proba.argmax(1) == tiny_run.splits.test.y).mean())
    assert accuracy == pytest.approx(tiny_run.result("cnn").evaluation.test.classification.accuracy)
    assert bundle.card["onnx_parity"]["max_abs_diff"] <= PARITY_TOLERANCE


def test_baseline_bundle_matches_the_estimator(tiny_run, baseline_bundle):
    bundle = load_bundle(baseline_bundle)
    x = tiny_run.splits.test.x
    accuracy = float((bundle.predict_proba(x).argmax(1) == tiny_run.splits.test.y).mean())
    shipped = tiny_run.result(bundle.card["model"]["experiment"]).evaluation
    assert accuracy == pytest.approx(shipped.test.classification.accuracy)
    with pytest.raises(BundleError, match="exists only as ONNX"):
        bundle.torch_model()


def test_reference_statistics_describe_the_training_inputs(tiny_run, cnn_bundle):
    ref = load_bundle(cnn_bundle).reference()
    x = tiny_run.splits.train.x
    assert ref["inputs"]["channel_mean"][0] == pytest.approx(x.mean() / 255.0, rel=1e-6)
    assert sum(ref["inputs"]["pixel_histogram"]["frequencies"][0]) == pytest.approx(1.0)
    assert sum(ref["outputs"]["predicted_class_frequencies"].values()) == pytest.approx(1.0)
    assert ref["outputs"]["samples"] == len(tiny_run.splits.val)


@pytest.fixture
def bundle_copy(cnn_bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(cnn_bundle, dst)
    return dst


@pytest.mark.parametrize(
    ("alter", "message"),
    [
        (lambda b: b.joinpath("model.onnx").write_bytes(b.joinpath("model.onnx").read_bytes()[:-1] + b"\0"),
         "changed since export: model.onnx"),
        (lambda b: b.joinpath("weights.safetensors").unlink(), "missing: weights.safetensors"),
        (lambda b: b.joinpath("evil.pkl").write_bytes(b"x"), "not part of the bundle: evil.pkl"),
        (lambda b: b.joinpath("manifest.json").unlink(), "no manifest.json"),
        (lambda b: b.joinpath("manifest.json").write_text("{not json"), "not a valid manifest"),
    ],
)
def test_an_altered_bundle_is_refused(bundle_copy, alter, message):
    alter(bundle_copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_a_bundle_of_another_schema_version_is_refused(bundle_copy):
    import json

    from practica.bundle.manifest import write_manifest

    card = json.loads((bundle_copy / "bundle.json").read_text())
    card["schema_version"] = 99
    (bundle_copy / "bundle.json").write_text(json.dumps(card))
    write_manifest(bundle_copy)  # re-signed, so only the version is wrong
    with pytest.raises(BundleError, match="schema version 99"):
        load_bundle(bundle_copy)


def test_missing_bundle_and_file_instead_of_folder(tmp_path):
    with pytest.raises(BundleError, match="no bundle at"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        load_bundle(tmp_path / "f")


def test_wrong_input_shape_is_refused(cnn_bundle):
    with pytest.raises(BundleError, match="takes"):
        load_bundle(cnn_bundle).predict_proba(np.zeros((1, 9, 9, 1), np.uint8))


def test_export_cli_writes_a_bundle_and_refuses_to_overwrite(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("PRACTICA_CACHE_DIR", str(tiny_run.run_dir.parents[1] / "cache"))
    out = tmp_path / "mlp-bundle"
    result = runner.invoke(app, ["export", str(tiny_run.run_dir), "--experiment", "mlp", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ONNX agrees with the trained model" in " ".join(result.output.split())
    assert load_bundle(out).card["selection"]["chosen"] is (tiny_run.decision.chosen == "mlp")
    again = runner.invoke(app, ["export", str(tiny_run.run_dir), "--experiment", "mlp", "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output
    overwrite = ["export", str(tiny_run.run_dir), "--experiment", "mlp", "--out", str(out), "--overwrite"]
    assert runner.invoke(app, overwrite).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}"], "not a run directory"),
        (["{run}", "--experiment", "nope"], "has no experiment 'nope'; it has: mlp, cnn, nb"),
    ],
)
def test_export_cli_errors(tiny_run, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, run=tiny_run.run_dir) for a in args]
    result = runner.invoke(app, ["export", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_export_refuses_an_unfinished_run_or_changed_data(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run_dir, ignore=shutil.ignore_patterns("bundle*"))
    (run_dir / "decision.json").rename(run_dir / "decision.moved")
    with pytest.raises(RunError, match="has not finished"):
        export_run(run_dir)
    (run_dir / "decision.moved").rename(run_dir / "decision.json")
    import json

    summary = json.loads((run_dir / "data" / "summary.json").read_text())
    summary["fingerprint"] = "0" * 64
    (run_dir / "data" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(RunError, match="the data changed"):
        export_run(run_dir, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failed_export_leaves_nothing_behind(tiny_run, tmp_path, monkeypatch):
    import practica.bundle.export as export_module

    def broken(*args, **kwargs):
        raise BundleError("ONNX export of the network failed: simulated")

    monkeypatch.setattr(export_module, "torch_to_onnx", broken)
    with pytest.raises(BundleError, match="simulated"):
        export_run(tiny_run.run_dir, "cnn", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_feature_table_models_export_with_named_inputs(tmp_path, monkeypatch):
    """Feature inputs (N×F float) through both exporters: a network and a baseline."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "table.npz", x=x, y=y, classes=np.array(["neg", "pos"]))
    suite = suite_from_dict({
        "name": "table",
        "dataset": {"source": "npz", "path": str(tmp_path / "table.npz")},
        "defaults": {"train": {"epochs": 5, "batch_size": 32}},
        "experiments": [
            {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [16]}}},
            {"name": "logreg", "model": {"sklearn": "logistic_regression"}},
        ],
        "evaluation": {"latency_samples": 5, "throughput_batch": 16},
    })
    run = run_suite(suite, runs_root=tmp_path / "runs")
    for name in ("mlp", "logreg"):
        bundle = load_bundle(export_run(run.run_dir, name, tmp_path / name))
        assert bundle.input.kind == "features" and bundle.input.shape == (5,)
        assert bundle.card["input"]["onnx_name"] == "features"
        proba = bundle.predict_proba(run.splits.test.x)
        accuracy = float((proba.argmax(1) == run.splits.test.y).mean())
        assert accuracy == pytest.approx(run.result(name).evaluation.test.classification.accuracy)
        assert len(bundle.reference()["inputs"]["features"]) == 5


def _recard(bundle_dir, change):
    """Edit bundle.json and sign the manifest again, so only the card is wrong."""
    import json

    from practica.bundle.manifest import write_manifest

    card = json.loads((bundle_dir / "bundle.json").read_text())
    change(card)
    (bundle_dir / "bundle.json").write_text(json.dumps(card))
    write_manifest(bundle_dir)


# (change to the card, what the error must say): refused when the bundle is loaded
INVALID_CARDS = [
    (lambda c: c.pop("input"), "input: Field required"),
    (lambda c: c["input"].update(shape=[100_000, 100_000, 3]),
     "input: an image side of 100,000 pixels is over the limit of 4,096"),
    (lambda c: c["input"].update(shape=[8, 8]), "input: an image model's shape is [height, width, channels]"),
    (lambda c: c["input"].update(shape=[8, 8, 0]), "input.shape.2: Input should be greater than or equal to 1"),
    (lambda c: c["input"].update(kind="audio"), "input.kind: Input should be 'image', 'features' or 'text'"),
    (lambda c: c["output"].pop("classes"), "output.classes: Field required"),
    (lambda c: c["output"].update(classes=["0", "0", "1"]), "output.classes repeats ['0']"),
    (lambda c: c.update(task="regression"), "a regression model has no classes, but output.classes lists 10"),
    (lambda c: c.pop("version"), "version: Field required"),
    (lambda c: c["model"].update(kind="xgboost"), "model.kind: Input should be 'network' or 'sklearn'"),
]


@pytest.mark.parametrize(("change", "message"), INVALID_CARDS, ids=[
    "no-input", "huge-shape", "2d-image", "zero-side", "unknown-kind", "no-classes", "repeated-classes",
    "regression-with-classes", "no-version", "unknown-model-kind"])
def test_an_invalid_card_is_refused_naming_the_field(bundle_copy, change, message):
    _recard(bundle_copy, change)
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_copy)
    assert message in str(err.value) and "bundle.json is not a valid bundle card" in str(err.value)
    assert "practica export RUN_DIR" in str(err.value)


# (change, what the error must say): a valid card that does not describe the ONNX model
MISMATCHED_CARDS = [
    (lambda c: c["output"].update(classes=c["output"]["classes"][:-1]),
     "output.classes lists 9 classes but {model} gives 10 outputs per input"),
    (lambda c: c["input"].update(shape=[9, 9, 1]),
     "input.shape is [9, 9, 1] but {model} takes inputs of shape [8, 8, 1]"),
    (lambda c: c["input"].update(onnx_name="pixels"),
     "input.onnx_name 'pixels' is not an input of {model} (it has ['images'])"),
]


@pytest.mark.parametrize(("change", "message"), MISMATCHED_CARDS, ids=["classes", "shape", "input-name"])
def test_a_card_that_disagrees_with_its_model_is_refused_before_predicting(bundle_copy, change, message):
    _recard(bundle_copy, change)
    bundle = load_bundle(bundle_copy)
    with pytest.raises(BundleError) as err:
        bundle.predict_proba(np.zeros((1, *bundle.input.shape), np.uint8))
    assert message.format(model=bundle_copy / "model.onnx") in str(err.value)
    assert "export the bundle again" in str(err.value)


@pytest.mark.parametrize("change", [INVALID_CARDS[0][0], INVALID_CARDS[1][0], MISMATCHED_CARDS[0][0]],
                         ids=["no-input", "huge-shape", "fewer-classes"])
@pytest.mark.parametrize("command", ["predict", "serve"])
def test_predict_and_serve_refuse_a_bad_card_in_one_line(bundle_copy, tmp_path, monkeypatch, change, command):
    from PIL import Image

    from practica.serving import server as server_module

    monkeypatch.setattr(server_module, "serve", lambda *a, **kw: pytest.fail("served a bundle with a bad card"))
    _recard(bundle_copy, change)
    image = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(image)
    result = runner.invoke(app, [command, str(bundle_copy), *([str(image)] if command == "predict" else [])])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert "bundle.json" in result.output and "export the bundle again" in " ".join(result.output.split()).lower()
