"""Open a bundle: verify its manifest first, then read its card and start ONNX Runtime on it."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from practica.bundle.inputs import InputSpec
from practica.bundle.layout import BUNDLE_FILE, BUNDLE_SCHEMA_VERSION, ONNX_FILE, REFERENCE_FILE, WEIGHTS_FILE
from practica.bundle.manifest import verify_manifest
from practica.errors import BundleError
from practica.io import read_json


class Bundle:
    """A verified bundle. ``predict_proba`` runs the ONNX model; ``torch_model`` rebuilds the network."""

    def __init__(self, root: Path, card: dict[str, Any], sha256: dict[str, str], threads: int | None = None) -> None:
        self.root = root
        self.card = card
        self.sha256 = sha256
        self.input = InputSpec.from_dict(card["input"])
        self.classes: tuple[str, ...] = tuple(card["output"]["classes"])
        self.threads = threads

    @property
    def version(self) -> str:
        return self.card["version"]

    @property
    def kind(self) -> str:
        return self.card["model"]["kind"]

    @property
    def task(self) -> str:
        """"classification" (probabilities out) or "regression" ((N, 1) values out)."""
        return self.card.get("task", "classification")

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    def predict_values(self, x: np.ndarray) -> np.ndarray:
        """A regressor's (N,) predicted values for (N, *input shape) raw inputs."""
        return self.predict_proba(x).reshape(-1)

    @cached_property
    def session(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or min(4, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        # Spinning idle threads burn a core between calls (measured: batch-1 calls 3 ms apart cost
        # 3.0 ms of CPU each with it, 0.6 ms without), CPU the HTTP server needs for its requests.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(self.root / ONNX_FILE), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise BundleError(f"ONNX Runtime cannot load {self.root / ONNX_FILE}: {err}") from None

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, *input shape) raw inputs (uint8 images or float32 features) → (N, classes) probabilities;
        for a regressor, the model's (N, 1) values (see ``predict_values``)."""
        x = np.ascontiguousarray(x, dtype=self.input.onnx_dtype)
        if x.shape[1:] != self.input.shape:
            raise BundleError(f"inputs of shape {x.shape[1:]} given to a model that takes {self.input.shape}")
        return self.session.run([self.card["output"]["onnx_name"]], {self.card["input"]["onnx_name"]: x})[0]

    def reference(self) -> dict:
        return read_json(self.root / REFERENCE_FILE)

    def torch_model(self):
        """The network as a PyTorch module (raw inputs in, probabilities out), from the weights file."""
        if self.kind != "network":
            raise BundleError(f"{self.root} holds a scikit-learn model, which exists only as ONNX in a bundle")
        from practica.bundle.onnx_export import RawInputModel
        from practica.config.schema import ModelSpec
        from practica.pipeline.experiment import build_classifier
        from practica.training.checkpoint import load_tensors

        h_w_c = self.input.shape
        shape = (h_w_c[2], h_w_c[0], h_w_c[1]) if self.input.kind == "image" else h_w_c
        model = build_classifier(ModelSpec.model_validate(self.card["model"]["spec"]), shape, len(self.classes),
                                 self.card["model"].get("preprocessing"), task=self.task)
        tensors, _ = load_tensors(self.root / WEIGHTS_FILE)
        model.load_state_dict(tensors)
        return RawInputModel(model, self.input.kind).eval()


def load_bundle(path: str | Path, *, threads: int | None = None) -> Bundle:
    root = Path(path)
    if not root.exists():
        raise BundleError(f"no bundle at {root}; make one with: practica export RUN_DIR (a run of practica run writes one to RUN_DIR/bundle)")
    if root.is_file():
        raise BundleError(f"{root} is a file; a bundle is a folder (the one practica export wrote)")
    sums = verify_manifest(root)
    try:
        card = read_json(root / BUNDLE_FILE)
    except (OSError, ValueError) as err:
        raise BundleError(f"{root / BUNDLE_FILE} cannot be read: {err}") from None
    if card.get("format") != "practica-bundle":
        raise BundleError(f"{root / BUNDLE_FILE} is not a practica bundle card")
    if card.get("schema_version") != BUNDLE_SCHEMA_VERSION:
        raise BundleError(
            f"{root} is a bundle of schema version {card.get('schema_version')}; this practica reads version "
            f"{BUNDLE_SCHEMA_VERSION}. Export it again with this version."
        )
    return Bundle(root, card, sums, threads)
