"""Scoring under bf16 (a run that trained in bf16): faster, and its predicted classes are still fp32's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests_support import tiny_suite_dict
from torch import nn

from practica.config import suite_from_dict
from practica.evaluation.predictors import PARITY_ROWS, Bf16Check, TorchPredictor
from practica.models.classifier import Regressor
from practica.pipeline.experiment import load_predictor
from practica.pipeline.rundir import RunDir
from practica.pipeline.suite import run_suite
from practica.results import Ok


def _near_tie_model() -> nn.Module:
    """Two logits, x·1 and x·1.001: fp32 tells them apart (class 1 wins); bf16 rounds 1.001 to 1 (a tie)."""
    linear = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0], [1.001]]))
    return linear


def test_a_near_tie_that_bf16_flips_is_recomputed_in_fp32():
    x = np.linspace(1.0, 4.0, PARITY_ROWS + 300, dtype=np.float32)[:, None]
    model = _near_tie_model()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        plain_bf16 = model(torch.from_numpy(x)).float().argmax(1).numpy()
    assert (plain_bf16 == 0).all()  # the flip the check exists for

    fp32 = TorchPredictor(model).predict_proba(x)
    scorer = TorchPredictor(model, precision="bf16")
    proba = scorer.predict_proba(x)
    assert (proba.argmax(1) == 1).all()
    np.testing.assert_array_equal(proba, fp32)  # every row was a near tie: all recomputed
    (check,) = scorer.checks
    assert check.rows == check.rechecked == len(x) and check.parity_rows == PARITY_ROWS


def test_confident_rows_keep_bf16s_probabilities_within_its_measured_error():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 5))
    x = np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32) * 3
    fp32 = TorchPredictor(model).predict_proba(x)
    scorer = TorchPredictor(model, precision="bf16")
    proba = scorer.predict_proba(x)
    (check,) = scorer.checks
    assert (proba.argmax(1) == fp32.argmax(1)).all()
    assert 0 < check.max_error < 0.05 and check.threshold >= 4 * check.max_error
    assert PARITY_ROWS <= check.rechecked < len(x)  # most rows are confident: bf16's pass is what they cost
    kept = np.abs(proba - fp32).max(axis=1) > 0
    assert kept.sum() >= len(x) - check.rechecked
    assert np.abs(proba - fp32).max() <= 2 * check.max_error  # within the error measured, with room
    assert "predicted classes are fp32's" in Bf16Check.merge(scorer.checks * 2).describe()
    assert Bf16Check.merge(scorer.checks * 2).rows == 2 * len(x)


def test_a_memory_mapped_split_is_scored_the_same(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x = np.random.default_rng(1).integers(0, 256, (300, 8, 8, 1), dtype=np.uint8)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    a = TorchPredictor(model, precision="bf16", batch_size=64).predict_proba(x)
    b = TorchPredictor(model, precision="bf16", batch_size=64).predict_proba(mapped)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a.argmax(1), TorchPredictor(model).predict_proba(x).argmax(1))


def test_a_regressor_is_always_scored_in_fp32():
    body = nn.Linear(3, 1)
    model = Regressor(body, torch.zeros(3), torch.ones(3))
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    scorer = TorchPredictor(model, precision="bf16")
    assert scorer.precision == "fp32"
    np.testing.assert_array_equal(scorer.outputs(x), TorchPredictor(model).outputs(x))
    assert scorer.checks == []


@pytest.mark.slow
def test_a_run_trained_in_bf16_scores_in_bf16_and_says_so(tmp_path):
    tiny_suite = tiny_suite_dict()
    tiny_suite["experiments"] = [{"name": "cnn", "model": {"layers": [{"conv": 8}, "relu", "maxpool", "flatten"]},
                                  "train": {"precision": "bf16"}},
                                 {"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [32]}}}]
    run = run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    trained = {r.name: r.trained for r in run.results if isinstance(r, Ok)}
    (note,) = [n for n in trained["cnn"].notes if "bf16" in n]
    assert "recomputed in fp32" in note
    assert not any("bf16" in n for n in trained["mlp"].notes)  # trained in fp32: scored in fp32

    # The recorded test predictions pick the classes the saved fp32 model picks.
    exp_dir = RunDir(run.run_dir).experiment("cnn")
    kept = exp_dir.read_predictions()
    assert kept is not None
    fp32 = load_predictor(run.suite.experiment("cnn"), run.splits, exp_dir).outputs(run.splits.test.x)
    np.testing.assert_array_equal(kept.test.argmax(1), fp32.argmax(1))
