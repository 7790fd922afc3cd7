"""The interface every tracker keeps, and the check that its package is installed."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Protocol

from practica.errors import TrackingError
from practica.tracking.records import ExperimentLog, SuiteLog

EXTRA = "pip install 'practica[tracking]'"


class Tracker(Protocol):
    """A place a suite run is logged to. ``start`` may fail (a server down): the run goes on without it."""

    label: str  # "MLflow", "TensorBoard": how a warning names it

    def start(self) -> None: ...
    def where(self) -> str: ...  # where to look, in one phrase: "MLflow experiment 'x' at sqlite:///…"
    def experiment(self, log: ExperimentLog) -> None: ...
    def finish(self, log: SuiteLog) -> None: ...


def require(module: str, label: str) -> ModuleType:
    """Import ``module``, or say which extra installs it: tracking was asked for, so its absence is an error."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise TrackingError(
            f"{label} tracking was asked for (tracking.{label.lower()} in the suite, or --{label.lower()}) but "
            f"{err.name or module} is not installed ({err}); install it with: {EXTRA}, or turn {label} tracking off."
        ) from None
