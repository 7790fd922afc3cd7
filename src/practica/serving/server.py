"""Run the service under uvicorn: one process, or several workers that each load the bundle."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, TypedDict

from fastapi import FastAPI

from practica.bundle.load import Bundle, load_bundle
from practica.serving.app import create_app
from practica.serving.deployment import Deployment
from practica.serving.settings import ServeSettings

# How a worker process learns what to serve: uvicorn starts workers from an import string.
ENV_BUNDLE = "PRACTICA_SERVE_BUNDLE"
ENV_SETTINGS = "PRACTICA_SERVE_SETTINGS"
ENV_THREADS = "PRACTICA_SERVE_THREADS"
ENV_DEPLOYMENT = "PRACTICA_SERVE_DEPLOYMENT"  # a Deployment's recipe (registry, shadow), instead of a bundle
# On SIGTERM, in-flight requests get this long to finish (Docker's default stop grace period is 10 s).
GRACEFUL_SHUTDOWN_S = 8


class _UvicornOptions(TypedDict):
    """The options both ways of starting uvicorn share (typed as ``uvicorn.run`` takes them)."""

    host: str
    port: int
    access_log: bool
    log_config: dict[str, Any]
    timeout_graceful_shutdown: int


def onnx_threads(workers: int) -> int:
    """ONNX Runtime threads per worker: the cores shared out, at most 4 (small models gain nothing more)."""
    return max(1, min(4, (os.cpu_count() or 1) // workers))


def load_for_serving(path: str | Path, workers: int) -> Bundle:
    """Verify the bundle, its card and its ONNX model before anything binds a port; one process keeps
    the ONNX session, several workers each start their own."""
    bundle = load_bundle(path, threads=onnx_threads(workers))
    bundle.session  # noqa: B018 — raises BundleError now if ONNX Runtime cannot load the model or it disagrees with the card
    if workers > 1:
        bundle.release_session()
    return bundle


def app_from_env() -> FastAPI:
    """The app factory each worker process calls."""
    settings, threads = ServeSettings.from_json(os.environ[ENV_SETTINGS]), int(os.environ[ENV_THREADS])
    if ENV_DEPLOYMENT in os.environ:  # each worker follows the registry on its own
        from practica.serving.rollout import rebuild_deployment

        return create_app(rebuild_deployment(json.loads(os.environ[ENV_DEPLOYMENT]), threads), settings)
    bundle = load_bundle(os.environ[ENV_BUNDLE], threads=threads)
    return create_app(bundle, settings)


def serve(bundle: Bundle | Deployment, settings: ServeSettings, *, host: str, port: int, workers: int = 1,
          access_log: bool = True) -> None:
    """Run uvicorn on the app: in this process, or in ``workers`` processes that each build their own (a
    ``Deployment`` from its recipe: each worker follows the registry on its own)."""
    import uvicorn

    # A text model tokenises each micro-batch in its model thread; the tokenizers library's own thread pool on
    # top of ONNX Runtime's threads and the event loop made 32 clients slower, not faster (bench/text_serve.py on
    # a loaded 2-core machine: 105 → 195 requests/s with it off). A user's explicit setting wins.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    options: _UvicornOptions = {"host": host, "port": port, "access_log": access_log, "log_config": _log_config(),
                                "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S}
    if workers == 1:
        uvicorn.run(create_app(bundle, settings), **options)
        return
    if isinstance(bundle, Deployment):
        if bundle.recipe is None:
            raise ValueError("a Deployment served by several workers needs its recipe (rollout.build_deployment)")
        os.environ[ENV_DEPLOYMENT] = json.dumps(bundle.recipe)
        bundle.release_sessions()
    else:
        os.environ[ENV_BUNDLE] = str(bundle.root.resolve())
    os.environ.update({ENV_SETTINGS: settings.to_json(), ENV_THREADS: str(onnx_threads(workers))})
    uvicorn.run(f"{__name__}:app_from_env", factory=True, workers=workers, **options)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the service's own logger (errors with their request ids)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["practica"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
