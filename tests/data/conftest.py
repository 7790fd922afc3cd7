"""Every data test gets its own cache folder, so no test reads or fills the user's cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("cache")  # beside tmp_path, so tests may fill tmp_path as a data folder
    monkeypatch.setenv("PRACTICA_CACHE_DIR", str(path))
    return path
