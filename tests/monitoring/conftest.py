"""Monitoring fixtures: a feature-table bundle (breast cancer, a logistic regression: seconds to make)."""

from __future__ import annotations

import pytest

SUITE = {
    "name": "bc-monitor",
    "dataset": {"source": "breast_cancer", "split": {"val": 0.2, "test": 0.3, "seed": 0}},
    "experiments": [{"name": "logreg", "model": {"sklearn": "logistic_regression", "params": {"max_iter": 3000}}}],
    "selection": {"metric": "val_accuracy"},
    "evaluation": {"latency_samples": 10},
}


@pytest.fixture(scope="session")
def table_run(tmp_path_factory):
    """A finished run of a one-experiment breast-cancer suite; its bundle is ``table_run.bundle``."""
    from practica.config.load import suite_from_dict
    from practica.pipeline.suite import run_suite

    root = tmp_path_factory.mktemp("table-runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(root / "cache"))
    try:
        return run_suite(suite_from_dict(SUITE), runs_root=root)
    finally:
        mp.undo()
