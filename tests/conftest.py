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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One finished run of the tiny digits suite (8×8 grayscale images, 10 classes), shared by
    the bundle, prediction and serving tests. Its chosen model's bundle is ``run_dir/bundle``."""
    from tests_support import tiny_suite_dict

    from practica.config.load import suite_from_dict
    from practica.pipeline.suite import run_suite

    root = tmp_path_factory.mktemp("tiny-runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(root / "cache"))
    try:
        run = run_suite(suite_from_dict(tiny_suite_dict()), runs_root=root)
    finally:
        mp.undo()
    return run


@pytest.fixture(scope="session")
def cnn_bundle(tiny_run, tmp_path_factory):
    """A network bundle (the tiny suite's CNN): uint8 8×8×1 images in, 10 probabilities out.
    Read-only: tests that alter a bundle copy it first."""
    from practica.pipeline.export import export_run

    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(tiny_run.run_dir.parents[1] / "cache"))
    try:
        return export_run(tiny_run.run_dir, "cnn", tmp_path_factory.mktemp("bundles") / "cnn")
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def baseline_bundle(tiny_run):
    """The tiny suite's chosen model's bundle, written by the run itself (a scikit-learn baseline)."""
    return tiny_run.bundle


@pytest.fixture(scope="session")
def text_net_bundle(tmp_path_factory):
    """A text network's bundle (``text_support``: texts in, three topics out), exported once per session for the
    bundle, prediction and serving tests. Read-only: tests that alter a bundle copy it first."""
    from text_support import text_bundle, text_run

    return text_bundle(text_run(), "network", tmp_path_factory.mktemp("text") / "net")


@pytest.fixture(scope="session")
def text_baseline_bundle(tmp_path_factory):
    """A text baseline's bundle (token counts → tf-idf → logistic regression), as ``text_net_bundle``."""
    from text_support import text_bundle, text_run

    return text_bundle(text_run(), "baseline", tmp_path_factory.mktemp("text") / "tfidf")
