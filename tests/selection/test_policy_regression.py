"""Selection on a regression metric: R² higher is better, RMSE and MAE lower."""

from __future__ import annotations

import numpy as np

from practica.config.schema import SelectionSpec
from practica.evaluation.metrics import regression_metrics
from practica.evaluation.records import Cost
from practica.selection import select


def result(name: str, error: float, latency: float):
    from practica.config.schema import ExperimentSpec
    from practica.results import Ok, Trained

    y = np.linspace(0, 10, 50)
    m = regression_metrics(y + error * np.sin(np.arange(50)), y)
    trained = Trained(None, 0.9, m, m, 1.0, "")
    return Ok(ExperimentSpec(name=name, model={"sklearn": "ridge"}), trained, Cost(10, 100, latency, latency, 1000.0))


def test_r2_picks_the_smallest_error_and_says_so_in_r2():
    decision = select([result("rough", 2.0, 0.1), result("fine", 0.2, 1.0)], SelectionSpec().for_task("regression"))
    assert decision.metric == "val_r2" and decision.chosen == "fine"
    assert "validation R²" in decision.summary and "R² " in decision.summary and "RMSE" in decision.summary


def test_rmse_is_lower_better_and_the_tolerance_is_in_target_units():
    runs = [result("slow", 0.20, 5.0), result("fast", 0.21, 0.1)]
    decision = select(runs, SelectionSpec(metric="val_rmse", tolerance=0.05))
    assert decision.chosen == "fast"  # within 0.05 of the best RMSE, and faster
    assert select(runs, SelectionSpec(metric="val_mae", tolerance=0.0)).chosen == "slow"


def test_without_a_metric_the_evaluated_task_decides_not_classification():
    decision = select([result("rough", 2.0, 0.1), result("fine", 0.2, 1.0)], SelectionSpec())
    assert decision.metric == "val_r2" and decision.chosen == "fine"


def test_val_loss_reads_as_the_regressions_mse():
    decision = select([result("rough", 2.0, 0.1), result("fine", 0.2, 1.0)], SelectionSpec(metric="val_loss"))
    assert decision.chosen == "fine" and "validation MSE" in decision.summary
