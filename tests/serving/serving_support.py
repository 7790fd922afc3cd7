"""Helpers for the serving tests: a client on an app (in process) and encoded images; a real uvicorn server is
``net_support.live_server``."""

from __future__ import annotations

import base64
import io
import threading
from contextlib import asynccontextmanager

import httpx
import numpy as np
from PIL import Image

from practica.serving import ServeSettings, create_app


@asynccontextmanager
async def serving(bundle, **settings):
    """An httpx client on the app of ``bundle`` (or of a ``Deployment``), in process, with its lifespan (model
    warm-up, batcher, a registry watcher) running."""
    app = create_app(bundle, ServeSettings(**settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buf, format=fmt)
    return buf.getvalue()


def b64(image: np.ndarray, fmt: str = "PNG") -> str:
    return base64.b64encode(encode(image, fmt)).decode()


def decoded(data: bytes, shape) -> np.ndarray:
    """What the service sees of an encoded image (JPEG is lossy)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.uint8).reshape(shape)


class CountingBundle:
    """A bundle whose ONNX Runtime calls after the start-up warm-up are counted (and can be slowed or fail)."""

    def __init__(self, bundle, delay: float = 0.0, error: Exception | None = None) -> None:
        self._bundle = bundle
        self.calls: list[int] = []
        self.delay = delay
        self.error = error
        self.running = threading.Event()
        self.warmed_up = False

    def __getattr__(self, name):
        return getattr(self._bundle, name)

    def predict_proba(self, x):
        return self._counted(self._bundle.predict_proba, x)

    def infer(self, x):  # what the service calls
        return self._counted(self._bundle.infer, x)

    def _counted(self, run, x):
        if not self.warmed_up:
            self.warmed_up = True
            return run(x)
        self.calls.append(len(x))
        self.running.set()
        if self.delay:
            threading.Event().wait(self.delay)
        if self.error is not None:
            raise self.error
        return run(x)


class FakeOutputsBundle(CountingBundle):
    """A bundle of another input kind over a real one: every input gets 0.1 for each class, no embedding, no
    out-of-distribution statistics (subclasses set ``input``)."""

    sha256: dict[str, str] = {}  # no ood.json: nothing to score

    def predict_proba(self, x):
        return np.full((len(x), len(self._bundle.classes)), 0.1, dtype=np.float32)

    def infer(self, x):
        from practica.bundle import Inference

        return Inference(self.predict_proba(x), None)
