"""Registries whose ``production`` version a first pipeline run made, shared by a module's tests (copy one with
``retrain_support.copy_registry`` before changing it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from retrain_support import first_run


@pytest.fixture(scope="module")
def weak_registry(tmp_path_factory) -> Path:
    """production: naive Bayes on 300 digits (about 80% accurate)."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("weak")
    mp.setenv("PRACTICA_CACHE_DIR", str(folder / "cache"))
    try:
        return first_run(folder, "naive_bayes", {"source": "digits", "max_samples": 300,
                                                 "split": {"val": 0.15, "test": 0.25, "seed": 0}})
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def strong_registry(tmp_path_factory) -> Path:
    """production: logistic regression on every digit (about 96% accurate)."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("strong")
    mp.setenv("PRACTICA_CACHE_DIR", str(folder / "cache"))
    try:
        return first_run(folder, "logistic_regression", {"source": "digits",
                                                         "split": {"val": 0.15, "test": 0.25, "seed": 0}})
    finally:
        mp.undo()
