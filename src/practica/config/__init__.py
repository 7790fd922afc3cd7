"""The suite file: schema and loading."""

from practica.config.load import load_suite, only_experiments, suite_from_dict
from practica.config.schema import ExperimentSpec, ModelSpec, Suite, TrainSpec

__all__ = ["ExperimentSpec", "ModelSpec", "Suite", "TrainSpec", "load_suite", "only_experiments", "suite_from_dict"]
