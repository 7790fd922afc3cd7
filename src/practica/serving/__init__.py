"""The HTTP service: a bundle behind FastAPI, with micro-batched ONNX Runtime inference."""

from practica.serving.app import create_app
from practica.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
