"""practica: from a data set to a model in production, with the evidence for every decision.

The Python API (``practica/api.py``), beside the ``practica`` command::

    import practica
    run = practica.run("suite.yaml")              # RunResult: decision, metrics, report and bundle paths
    model = practica.load_bundle(run.bundle)      # Model: predict(arrays, files, dicts) → Prediction
    model.predict(x[:5])[0].label

Its names load on first use (``__getattr__`` below), so ``import practica`` stays as cheap as the
command's start: no torch, no pipeline, no ONNX Runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The model stage registers its checks of architecture and estimator names with config, which cannot
# import it; importing it here makes every ModelSpec checked, whichever part of practica is imported.
# (It loads config's pydantic schema, not torch.)
from practica import models  # noqa: E402, F401

if TYPE_CHECKING:
    from practica.api import Model, Prediction, RunResult, load_bundle, open_run, run

_API = ("Model", "Prediction", "RunResult", "load_bundle", "open_run", "run")

__all__ = ["Model", "Prediction", "RunResult", "__version__", "load_bundle", "open_run", "run"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from practica import api

        return getattr(api, name)
    raise AttributeError(f"module 'practica' has no attribute {name!r}")
