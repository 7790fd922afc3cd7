"""The frozen-features baseline: a scikit-learn model fitted on a pretrained network's penultimate features.

``with_features`` puts ``BackboneFeatures`` in front of a baseline (or its scaling pipeline), so the
baseline trains, predicts and is timed on raw samples like any other, the network's forward pass
included in its latency. The network runs frozen, in evaluation mode, on the images as the baseline
receives them (``baselines.as_features``: flattened, scaled to [0, 1]).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from torch import nn

from practica.models.transfer import penultimate

BATCH = 512  # images per forward pass: a few MB of activations for a CIFAR-sized network


class BackboneFeatures(TransformerMixin, BaseEstimator):
    """Flattened images (N, H·W·C in [0, 1]) → the network's penultimate features (N, F).

    ``network``: a practica ``Classifier`` (its normalisation and body); ``image_shape``: (C, H, W). Nothing
    is learned: ``fit`` only checks the width of its input."""

    def __init__(self, *, network: nn.Module, image_shape: tuple[int, int, int]) -> None:
        self.network = network
        self.image_shape = image_shape

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> BackboneFeatures:
        self.transform(x[:1])
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        c, h, w = self.image_shape
        images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(-1, h, w, c).permute(0, 3, 1, 2)
        self.network.eval()
        body = getattr(self.network, "body", self.network)
        parts = []
        with torch.no_grad(), penultimate(body) as captured:
            for start in range(0, len(images), BATCH):
                self.network(images[start : start + BATCH])
                parts.append(captured.pop().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def with_features(estimator: BaseEstimator, features: BackboneFeatures) -> Pipeline:
    """``estimator`` (or pipeline) with the network's features as its first step."""
    steps = list(estimator.steps) if isinstance(estimator, Pipeline) else [("model", estimator)]
    return Pipeline([("features", features), *steps])
