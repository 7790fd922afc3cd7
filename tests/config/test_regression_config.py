"""dataset.task and every setting that suits one task only: resolved, defaulted, or refused clearly."""

from __future__ import annotations

import pytest

from practica.config.load import suite_from_dict
from practica.errors import ConfigError


def suite(dataset: dict | None = None, **over) -> dict:
    base = {
        "name": "reg",
        "dataset": dataset or {"source": "diabetes"},
        "experiments": [{"name": "ridge", "model": {"sklearn": "ridge"}}],
    }
    return {**base, **over}


def net(train: dict) -> list[dict]:
    return [{"name": "mlp", "model": {"arch": "mlp", "params": {"hidden": [8]}}, "train": train}]


def test_diabetes_is_a_regression_and_its_metric_defaults_to_r2():
    s = suite_from_dict(suite())
    assert s.dataset.task == "auto" and s.dataset.declared_task == "regression"
    assert s.selection.metric == "val_r2"


def test_a_classification_keeps_val_accuracy_as_its_default_metric():
    s = suite_from_dict(suite({"source": "iris"}, experiments=[{"name": "knn", "model": {"sklearn": "knn"}}]))
    assert s.dataset.declared_task == "classification" and s.selection.metric == "val_accuracy"


@pytest.mark.parametrize("metric", ["val_r2", "val_rmse", "val_mae", "val_loss"])
def test_regression_metrics_are_accepted(metric):
    assert suite_from_dict(suite(selection={"metric": metric})).selection.metric == metric


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"selection": {"metric": "val_accuracy"}}, "selection.metric 'val_accuracy' is a classification metric"),
        ({"selection": {"metric": "val_macro_f1"}}, "use one of val_r2, val_rmse, val_mae or val_loss"),
        ({"experiments": [{"name": "lr", "model": {"sklearn": "logistic_regression"}}]},
         "'logistic_regression' is a classifier, but the task is regression"),
        ({"experiments": [{"name": "nb", "model": {"sklearn": "naive_bayes"}}]}, "use linear_regression, ridge"),
        ({"experiments": net({"early_stopping": {"monitor": "val_accuracy"}})},
         "early_stopping.monitor 'val_accuracy' is a classification metric"),
        ({"experiments": net({"label_smoothing": 0.1})}, "label_smoothing (0.1) softens class labels"),
        ({"experiments": net({"class_weight": "balanced"})}, "class_weight weights classes"),
        ({"diagnosis": {"reachable_accuracy": 0.9}}, "diagnosis.reachable_accuracy is an accuracy"),
    ],
)
def test_classification_settings_on_a_regression_are_refused(over, expected):
    with pytest.raises(ConfigError) as err:
        suite_from_dict(suite(**over))
    assert expected in str(err.value)
    assert "remove" in str(err.value) or "use" in str(err.value)  # every message names the fix


def test_cv_folds_on_a_regression_is_refused():
    with pytest.raises(ConfigError, match="cv_folds scores baselines by cross-validated accuracy"):
        suite_from_dict(suite({"source": "diabetes", "split": {"cv_folds": 5}}))


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"selection": {"metric": "val_r2"}}, "selection.metric 'val_r2' is a regression metric"),
        ({"selection": {"metric": "val_rmse"}}, "use one of val_accuracy, val_macro_f1 or val_loss"),
        ({"experiments": [{"name": "ols", "model": {"sklearn": "linear_regression"}}]},
         "'linear_regression' is a regressor, but the task is classification"),
        ({"experiments": [{"name": "r", "model": {"sklearn": "ridge"}}]}, "use logistic_regression"),
        ({"experiments": net({"early_stopping": {"monitor": "val_r2"}})}, "use val_loss or val_accuracy"),
    ],
)
def test_regression_settings_on_a_classification_are_refused(over, expected):
    with pytest.raises(ConfigError) as err:
        suite_from_dict(suite({"source": "iris"}, **over))
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ({"source": "iris", "task": "regression"}, "dataset.task: regression needs a source whose target is a number"),
        ({"source": "digits", "task": "regression"}, "source 'digits' holds classes"),
        ({"source": "diabetes", "task": "classification"}, "source 'diabetes' is a regression set"),
    ],
)
def test_a_task_the_source_cannot_have_is_refused(dataset, expected):
    with pytest.raises(ConfigError) as err:
        suite_from_dict(suite(dataset))
    assert expected in str(err.value)


def test_early_stopping_on_val_r2_maximises():
    s = suite_from_dict(suite(experiments=net({"early_stopping": {"monitor": "val_r2"}})))
    assert s.experiments[0].train.early_stopping.direction == "max"


def test_regressor_params_are_checked_against_the_regressor():
    # squared_error is a regression tree's criterion only; before the task is known it must be accepted
    s = suite_from_dict(suite(experiments=[{"name": "t", "model": {"sklearn": "decision_tree",
                                                                    "params": {"criterion": "squared_error"}}}]))
    assert s.experiments[0].model.params == {"criterion": "squared_error"}
    with pytest.raises(ConfigError, match="alpha"):
        suite_from_dict(suite(experiments=[{"name": "r", "model": {"sklearn": "ridge", "params": {"alpha": -1}}}]))
