"""Evaluation: quality per split and cost per model."""

from practica.evaluation.cost import measure_cost, measure_costs
from practica.evaluation.metrics import split_metrics
from practica.evaluation.predictors import Predictor, SklearnPredictor, TorchPredictor
from practica.evaluation.records import ClassMetrics, Cost, Evaluation, SplitMetrics

__all__ = ["ClassMetrics", "Cost", "Evaluation", "Predictor", "SklearnPredictor", "SplitMetrics",
           "TorchPredictor", "measure_cost", "measure_costs", "split_metrics"]
