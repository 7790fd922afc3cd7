"""The diagnosis stage: read a training run and say in words what happened, with its evidence."""

from practica.diagnosis.context import DiagnosisContext
from practica.diagnosis.records import Diagnosis, Finding
from practica.diagnosis.rules import diagnose, diagnose_fit

__all__ = ["Diagnosis", "DiagnosisContext", "Finding", "diagnose", "diagnose_fit"]
