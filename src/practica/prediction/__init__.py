"""Batch prediction (``practica predict``): image files, folders, pixel CSVs and JSON records through a bundle."""

from practica.prediction.batch import Predictions, Row, Summary, predict_items
from practica.prediction.output import check_output_path, write_rows
from practica.prediction.sources import Item, open_inputs

__all__ = ["Item", "Predictions", "Row", "Summary", "check_output_path", "open_inputs", "predict_items", "write_rows"]
