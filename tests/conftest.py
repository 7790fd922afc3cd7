"""Shared fixtures: every test gets its own data cache, so none touches the user's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from practica.data.records import Dataset


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PRACTICA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def digits() -> Dataset:
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    return Dataset("digits", x, d.target.astype(np.int64), tuple(str(i) for i in range(10)))


@pytest.fixture(scope="session")
def digits_pair(digits) -> tuple[Dataset, Dataset]:
    """A small train/val pair: fast enough for many short training runs."""
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(digits))
    return digits.subset(idx[:600], "train"), digits.subset(idx[600:900], "val")
