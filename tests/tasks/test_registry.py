"""The tasks' metric registry: one entry per metric, read alike by the selection, the report and the
config checks."""

from __future__ import annotations

import math

import pytest

from practica.tasks import TASKS, get_task


@pytest.mark.parametrize("task, metric, value, text", [
    ("classification", "val_accuracy", 0.9621, "96.2%"),
    ("classification", "val_macro_f1", 0.5, "50.0%"),
    ("classification", "val_loss", 0.31234, "0.312"),
    ("classification", "val_loss", None, "—"),
    ("classification", "val_accuracy", math.nan, "—"),
    ("regression", "val_r2", 0.81234, "0.812"),
    ("regression", "val_rmse", 1234.5678, "1235"),
    ("regression", "val_loss", 2.5, "2.5"),
])
def test_metric_in_its_own_terms(task: str, metric: str, value, text: str) -> None:
    assert get_task(task).metric(metric).show(value) == text


@pytest.mark.parametrize("task, metric, delta, text", [
    ("classification", "val_accuracy", 0.005, "0.5 percentage points"),
    ("classification", "val_loss", 0.01, "0.01"),
    ("regression", "val_r2", 0.01, "0.01 R²"),
    ("regression", "val_mae", 0.5, "0.5 (in the target's units)"),
])
def test_tolerance_reads_in_the_metrics_units(task: str, metric: str, delta: float, text: str) -> None:
    assert get_task(task).metric(metric).tolerance(delta) == text


@pytest.mark.parametrize("task, metric, higher", [
    ("classification", "val_accuracy", True), ("classification", "val_loss", False),
    ("regression", "val_r2", True), ("regression", "val_rmse", False), ("regression", "val_mae", False),
    ("regression", "val_loss", False),
])
def test_direction(task: str, metric: str, higher: bool) -> None:
    assert get_task(task).metric(metric).higher_is_better is higher


@pytest.mark.parametrize("task", list(TASKS.values()), ids=list(TASKS))
def test_every_task_is_whole(task) -> None:
    """Contract: names unique, the default and the report's columns among the metrics, val_loss in each."""
    assert len(set(task.metric_names)) == len(task.metric_names)
    assert task.metric().name == task.default_metric and "val_loss" in task.metric_names
    assert all(task.metric(c.metric) for c in task.columns)
    assert all(m.name.startswith("val_") and m.label.startswith("validation ") for m in task.metrics)


def test_unknown_names_raise() -> None:
    with pytest.raises(ValueError, match="not a regression metric; use one of val_r2"):
        get_task("regression").metric("val_accuracy")
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        get_task("ranking")
