"""The retrain pipeline (``practica pipeline PIPELINE.yaml``): new data through a hygiene gate, the suite on it,
its chosen model against the registry's ``production`` version on fresh test data, and a promotion only when
it wins by the declared margin with no class regressing. See ``steps.py`` for the order, ``config.py`` for the
file, ``record.py`` for what each run leaves behind."""

from practica.retrain.config import Pipeline, PipelineSpec, load_pipeline, pipeline_from_dict
from practica.retrain.record import PipelineRecord, PipelineRun
from practica.retrain.steps import (
    EXIT_GATE_FAILED,
    EXIT_NO_MODEL,
    EXIT_NOT_PROMOTED,
    EXIT_PROMOTED,
    run_pipeline,
)

__all__ = [
    "EXIT_GATE_FAILED",
    "EXIT_NOT_PROMOTED",
    "EXIT_NO_MODEL",
    "EXIT_PROMOTED",
    "Pipeline",
    "PipelineRecord",
    "PipelineRun",
    "PipelineSpec",
    "load_pipeline",
    "pipeline_from_dict",
    "run_pipeline",
]
