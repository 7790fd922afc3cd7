"""The learning tasks: each a ``Task`` in its own module, found by name.

>>> get_task("classification").metric("val_loss").label
'validation loss'
"""

from __future__ import annotations

from practica.tasks.base import Column, Metric, Task
from practica.tasks.classification import Classification
from practica.tasks.regression import Regression

TASKS: dict[str, Task] = {t.name: t for t in (Classification(), Regression())}


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown name raises ValueError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task '{name}'; the tasks are {', '.join(TASKS)}") from None


def owner(metric: str) -> Task | None:
    """The first task whose registry has ``metric`` (val_loss is every task's: the first one's)."""
    return next((t for t in TASKS.values() if metric in t.metric_names), None)


__all__ = ["TASKS", "Column", "Metric", "Task", "get_task", "owner"]
