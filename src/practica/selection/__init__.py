"""Selection: the production model, chosen by a declared policy on validation data."""

from practica.selection.policy import select
from practica.selection.records import Decision, Ranked

__all__ = ["Decision", "Ranked", "select"]
