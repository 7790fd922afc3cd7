"""Serving fixtures: loaded bundles, real digit images, and an in-process client that runs the app's lifespan."""

from __future__ import annotations

import pytest

from practica.bundle import load_bundle


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def cnn(cnn_bundle):
    return load_bundle(cnn_bundle, threads=1)


@pytest.fixture(scope="session")
def baseline(baseline_bundle):
    return load_bundle(baseline_bundle, threads=1)


@pytest.fixture(scope="session")
def digit_images(tiny_run):
    """Real 8×8×1 uint8 digits from the test split."""
    return tiny_run.splits.test.x[:8]


@pytest.fixture(scope="session")
def text_net(text_net_bundle):
    """A text network's bundle (``text_support``): texts in, three topics out."""
    return load_bundle(text_net_bundle, threads=1)


@pytest.fixture(scope="session")
def text_baseline(text_baseline_bundle):
    """A text baseline's bundle (token counts → tf-idf → logistic regression)."""
    return load_bundle(text_baseline_bundle, threads=1)
