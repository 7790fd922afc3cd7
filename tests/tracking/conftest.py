from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import tiny_suite_dict

from practica.config import suite_from_dict
from practica.pipeline.suite import run_suite
from practica.results import SuiteRun


def tracked_suite(**tracking) -> dict:
    """The tiny digits suite, two epochs of an MLP and naive Bayes, with ``tracking``."""
    data = tiny_suite_dict()
    data["defaults"]["train"]["epochs"] = 2
    data["experiments"] = [e for e in data["experiments"] if e["name"] in ("mlp", "nb")]
    data["tracking"] = tracking
    return data


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory) -> tuple[SuiteRun, Path]:
    """One tracked run for the module's tests to read back: MLflow and TensorBoard at their defaults."""
    root = tmp_path_factory.mktemp("runs")
    suite = suite_from_dict(tracked_suite(mlflow=True, tensorboard=True))
    return run_suite(suite, runs_root=root), root
