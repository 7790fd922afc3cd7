"""The suite's tracking section and the flags: defaults, unknown keys, a tracker not installed."""

from __future__ import annotations

import sys

import pytest
from conftest import tracked_suite

from practica.config import suite_from_dict
from practica.errors import ConfigError, TrackingError
from practica.pipeline.rundir import resolved_yaml
from practica.pipeline.suite import run_suite
from practica.tracking import check_tracking


def test_true_means_the_defaults_and_false_off() -> None:
    spec = suite_from_dict(tracked_suite(mlflow=True, tensorboard=False)).tracking
    assert spec.mlflow is not None and spec.mlflow.uri is None and spec.mlflow.experiment is None
    assert spec.tensorboard is None
    assert spec.enabled


def test_settings_are_kept() -> None:
    spec = suite_from_dict(tracked_suite(mlflow={"uri": "http://mlflow:5000", "experiment": "digits-all",
                                                 "model_name": "reader"},
                                         tensorboard={"logdir": "tb"})).tracking
    assert (spec.mlflow.uri, spec.mlflow.experiment, spec.mlflow.model_name) == ("http://mlflow:5000", "digits-all",
                                                                                  "reader")
    assert str(spec.tensorboard.logdir) == "tb"


@pytest.mark.parametrize("tracking, words", [
    ({"mlflow": {"url": "x"}}, ["unknown key 'url'", "Did you mean 'uri'?"]),
    ({"wandb": True}, ["unknown key 'wandb'", "mlflow, tensorboard"]),
    ({"tensorboard": {"log_dir": "tb"}}, ["unknown key 'log_dir'", "logdir"]),
])
def test_an_unknown_key_names_the_accepted_ones(tracking, words) -> None:
    with pytest.raises(ConfigError) as err:
        suite_from_dict(tracked_suite(**tracking))
    for word in words:
        assert word in str(err.value)


def test_a_suite_without_tracking_resolves_as_before() -> None:
    """So that runs begun before the section existed still resume (the resolved suite must not change)."""
    assert "tracking" not in resolved_yaml(suite_from_dict(tracked_suite()))
    assert "tracking" in resolved_yaml(suite_from_dict(tracked_suite(tensorboard=True)))


@pytest.mark.parametrize("package, tracking", [("mlflow", {"mlflow": True}),
                                               ("tensorboard", {"tensorboard": True})])
def test_a_tracker_not_installed_is_an_error_naming_the_extra(monkeypatch, tmp_path, package, tracking) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` raise ImportError
    suite = suite_from_dict(tracked_suite(**tracking))
    with pytest.raises(TrackingError, match=r"pip install 'practica\[tracking\]'"):
        check_tracking(suite.tracking)
    with pytest.raises(TrackingError, match=package):  # before any training, and nothing written
        run_suite(suite, runs_root=tmp_path)
    assert not any(tmp_path.iterdir())
