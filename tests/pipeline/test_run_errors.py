"""A bug in practica is not a failed experiment: it stops the run with its own traceback.

Errors practica raises on purpose (``PracticaError``) and the run-time errors of the libraries below
(``RuntimeError``, ``ValueError``, ``MemoryError``: out of memory, a solver that refuses the data) fail
one experiment and let the others run; ``test_run_integrity`` pins that. Anything else is a mistake in
the code, and must not be recorded as a verdict on the model."""

from __future__ import annotations

import json

import pytest

from practica.config import suite_from_dict
from practica.pipeline import experiment as experiment_module
from practica.pipeline.suite import run_suite


def _buggy(error: type[Exception]):
    def train_experiment(*args, **kwargs):
        raise error("a bug in practica")

    return train_experiment


@pytest.mark.parametrize("error", [TypeError, AttributeError, KeyError, IndexError, NameError])
def test_a_bug_while_training_propagates_with_its_traceback(tiny_suite, tmp_path, monkeypatch, error):
    tiny_suite["experiments"] = tiny_suite["experiments"][:1]
    monkeypatch.setattr(experiment_module, "train_experiment", _buggy(error))
    with pytest.raises(error, match="a bug in practica") as caught:
        run_suite(suite_from_dict(tiny_suite), runs_root=tmp_path)
    assert caught.traceback[-1].name == "train_experiment"  # the frame that raised, not a re-raise
    (run_dir,) = (tmp_path / tiny_suite["name"]).iterdir()
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "failed" and status["error"].startswith(f"{error.__name__}: ")
    assert not list(run_dir.glob("experiments/*/traceback.txt"))  # not filed as a failed experiment
