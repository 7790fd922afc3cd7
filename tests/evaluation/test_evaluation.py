"""Quality metrics and cost measurement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from practica.evaluation import TorchPredictor, measure_costs, split_metrics
from practica.evaluation.metrics import expected_calibration_error


def test_split_metrics_on_a_known_case():
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.7 + 0.1
    m = split_metrics(proba, y, ("a", "b", "c"))
    f = m.classification
    assert f.accuracy == pytest.approx(4 / 6) and m.task == "classification"
    assert f.confusion == ((1, 1, 0), (0, 2, 0), (1, 0, 1))
    a, b, c = f.per_class
    assert (a.precision, a.recall) == (0.5, 0.5)
    assert b.precision == pytest.approx(2 / 3) and b.recall == 1.0
    assert c.support == 2 and m.n == 6
    assert m.loss == pytest.approx(-(4 * np.log(0.8) + 2 * np.log(0.1)) / 6)
    assert f.macro_f1 == pytest.approx(np.mean([a.f1, b.f1, c.f1]))


def test_calibration_error():
    y = np.array([0, 1, 0, 1])
    confident_and_right = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(confident_and_right, y) == 0
    confident_and_half_wrong = np.array([[0.99, 0.01]] * 4)
    assert expected_calibration_error(confident_and_half_wrong, y) == pytest.approx(0.49)


def test_nan_probabilities_do_not_crash_metrics():
    m = split_metrics(np.full((4, 2), np.nan), np.array([0, 1, 0, 1]), ("a", "b"))
    assert 0 <= m.classification.accuracy <= 1 and np.isfinite(m.loss)


def test_costs_are_measured_for_each_model():
    small = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    big = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 10))
    x = np.random.default_rng(0).integers(0, 255, (50, 8, 8, 1), dtype=np.uint8)
    costs = measure_costs({"small": TorchPredictor(small), "big": TorchPredictor(big)}, x, latency_samples=20, batch=16)
    assert costs["small"].params == 650 and costs["small"].size_bytes == 650 * 4
    assert costs["big"].params > costs["small"].params
    for c in costs.values():
        assert 0 < c.latency_p50_ms <= c.latency_p95_ms and c.throughput > 0
