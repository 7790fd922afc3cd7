"""The suite file: schema and loading."""

from practica.config.load import check_data_paths, load_suite, suite_from_dict
from practica.config.schema import ExperimentSpec, ModelSpec, Suite, TrainSpec

__all__ = ["ExperimentSpec", "ModelSpec", "Suite", "TrainSpec", "check_data_paths", "load_suite", "suite_from_dict"]
