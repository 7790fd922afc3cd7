"""train.precision: bf16 autocast trains, keeps fp32 weights, and exports like fp32."""

from __future__ import annotations

import math

import pytest
import torch
from tests_support import tiny_suite_dict

from practica.bundle import load_bundle
from practica.config.load import suite_from_dict
from practica.config.schema import TrainSpec
from practica.errors import ConfigError
from practica.pipeline.export import export_run
from practica.pipeline.suite import run_suite
from practica.training.trainer import fit, uses_bf16


def _cnn():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))


@pytest.mark.slow
def test_bf16_training_learns_and_keeps_fp32_weights(digits_pair):
    train, val = digits_pair
    spec = TrainSpec(epochs=4, batch_size=64, precision="bf16", optimizer={"name": "adam", "lr": 0.01})
    result = fit(_cnn, train, val, spec)
    last = result.history.epochs[-1]
    assert all(math.isfinite(r.train_loss) for r in result.history.epochs)
    assert last.metrics["val_accuracy"] > 0.85  # fp32 reaches ~0.95 here; bf16 must learn as well, give or take
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


def test_precision_choices():
    cpu = torch.device("cpu")
    assert uses_bf16("bf16", cpu) and not uses_bf16("fp32", cpu)
    assert isinstance(uses_bf16("auto", cpu), bool)
    with pytest.raises(ConfigError, match="precision"):
        suite_from_dict({**tiny_suite_dict(), "defaults": {"train": {"precision": "fp16"}}})


@pytest.mark.slow
def test_a_bf16_network_exports_a_faithful_bundle(tmp_path):
    suite = tiny_suite_dict()
    suite["experiments"] = [e for e in suite["experiments"] if e["name"] == "cnn"]
    suite["experiments"][0]["train"] = {"precision": "bf16"}
    run = run_suite(suite_from_dict(suite), runs_root=tmp_path)
    bundle = load_bundle(export_run(run.run_dir, "cnn", tmp_path / "b"))
    assert bundle.card["onnx_parity"]["max_abs_diff"] <= 1e-4
    accuracy = float((bundle.predict_proba(run.splits.test.x).argmax(1) == run.splits.test.y).mean())
    assert accuracy == pytest.approx(run.result("cnn").evaluation.test.classification.accuracy)
