"""Evaluation: quality per split and cost per model."""

from practica.evaluation.cost import measure_cost, measure_costs
from practica.evaluation.metrics import split_metrics
from practica.evaluation.predictors import Predictor, SklearnPredictor, TextPredictor, TorchPredictor
from practica.evaluation.records import (
    ClassificationMetrics,
    ClassMetrics,
    Cost,
    Evaluation,
    RegressionMetrics,
    SplitMetrics,
)

__all__ = ["ClassMetrics", "ClassificationMetrics", "Cost", "Evaluation", "Predictor", "RegressionMetrics",
           "SklearnPredictor", "SplitMetrics", "TextPredictor", "TorchPredictor", "measure_cost", "measure_costs",
           "split_metrics"]
