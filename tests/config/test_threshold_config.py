"""selection.threshold: its shape checked with the suite, its classes checked against the data before any
training (a multi-class set or an unknown class name is refused, and no run directory is left)."""

from __future__ import annotations

import pytest
from tests_support import with_change

from practica.config.load import suite_from_dict
from practica.errors import ConfigError
from practica.pipeline.suite import run_suite

RECALL_95 = {"positive": "malignant", "metric": "recall", "at_least": 0.95}


def breast_cancer(threshold: dict, source: str = "breast_cancer") -> dict:
    return {"name": "bc", "dataset": {"source": source},
            "experiments": [{"name": "lr", "model": {"sklearn": "logistic_regression"}}],
            "selection": {"metric": "val_macro_f1", "threshold": threshold}}


def test_a_threshold_reads_as_written_and_is_absent_by_default():
    spec = suite_from_dict(breast_cancer(RECALL_95)).selection.threshold
    assert spec is not None and (spec.positive, spec.metric, spec.at_least) == ("malignant", "recall", 0.95)
    assert suite_from_dict(with_change("selection.metric", "val_accuracy")).selection.threshold is None


@pytest.mark.parametrize(("change", "expected"), [
    ({"at_least": 1.5}, "selection.threshold.at_least: Input should be less than or equal to 1"),
    ({"at_least": 0}, "selection.threshold.at_least: Input should be greater than 0"),
    ({"metric": "f1"}, "selection.threshold.metric: Input should be 'recall' or 'precision'"),
    ({"positive": ""}, "selection.threshold.positive"),
    ({"above": 0.9}, "selection.threshold: unknown key 'above'. Accepted keys here: at_least, metric, positive"),
])
def test_a_malformed_threshold_is_refused_naming_the_field(change, expected):
    with pytest.raises(ConfigError) as err:
        suite_from_dict(breast_cancer({**RECALL_95, **change}))
    assert expected in str(err.value)


def test_a_threshold_missing_its_target_is_refused():
    with pytest.raises(ConfigError, match="selection.threshold.at_least: this key is required"):
        suite_from_dict(breast_cancer({"positive": "malignant", "metric": "recall"}))


def test_a_threshold_on_a_regression_is_refused():
    raw = {"name": "reg", "dataset": {"source": "diabetes"},
           "experiments": [{"name": "r", "model": {"sklearn": "ridge"}}], "selection": {"threshold": RECALL_95}}
    with pytest.raises(ConfigError, match="selection.threshold sets a decision threshold between two classes, but "
                                          "the task is regression .*; remove it"):
        suite_from_dict(raw)


@pytest.mark.parametrize(("source", "threshold", "expected"), [
    ("iris", {**RECALL_95, "positive": "setosa"},
     "selection.threshold applies to two classes, but the data has 3 (setosa, versicolor, virginica); remove "
     "selection.threshold"),
    ("breast_cancer", {**RECALL_95, "positive": "cancer"},
     "selection.threshold.positive 'cancer' is not a class of the data; its classes are 'malignant' and 'benign'"),
])
def test_classes_that_do_not_fit_are_refused_before_any_training(tmp_path, source, threshold, expected):
    with pytest.raises(ConfigError) as err:
        run_suite(suite_from_dict(breast_cancer(threshold, source)), runs_root=tmp_path)
    assert expected in str(err.value)
    assert not (tmp_path / "bc").exists()  # refused before the run directory was made
