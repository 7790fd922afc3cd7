"""PSI of new data against a bundle's reference.json, images and feature tables (the PSI itself is
monitoring's, tested in tests/monitoring/test_drift.py)."""

from __future__ import annotations

import numpy as np
import pytest

from practica.bundle.reference import input_reference
from practica.retrain.drift import shifts


def test_images_like_the_training_ones_do_not_drift_and_inverted_ones_do(digits):
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(digits))
    reference = {"inputs": input_reference(digits.x[idx[:900]])}
    same = shifts(digits.x[idx[900:]], reference)
    assert max(s.psi for s in same) < 0.1
    inverted = shifts(255 - digits.x[idx[900:]], reference)
    assert inverted[0].psi > 1.0  # largest first
    assert {s.name for s in inverted} == {"pixel histogram (channel 0)", "per-image brightness"}


def test_features_outside_the_training_range_count():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(2000, 2)).astype(np.float32)
    reference = {"inputs": input_reference(train)}
    new = rng.normal(size=(500, 2)).astype(np.float32)
    assert max(s.psi for s in shifts(new, reference, ("a", "b"))) < 0.1
    new[:, 1] += 5.0  # far beyond the maximum the model saw
    found = shifts(new, reference, ("a", "b"))
    assert found[0].name == "feature b" and found[0].psi > 1.0


def test_data_of_another_kind_is_refused(digits):
    reference = {"inputs": input_reference(digits.x[:100])}
    with pytest.raises(ValueError, match="the new data are features but"):
        shifts(np.zeros((10, 4), dtype=np.float32), reference)
