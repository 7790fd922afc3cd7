"""Text bundles (``text_support``): a network's and a baseline's, exported once per session."""

from __future__ import annotations

import pytest
from text_support import text_bundle, text_run


@pytest.fixture(scope="session")
def text_net_bundle(tmp_path_factory):
    return text_bundle(text_run(), "network", tmp_path_factory.mktemp("text") / "net")


@pytest.fixture(scope="session")
def text_baseline_bundle(tmp_path_factory):
    return text_bundle(text_run(), "baseline", tmp_path_factory.mktemp("text") / "tfidf")
