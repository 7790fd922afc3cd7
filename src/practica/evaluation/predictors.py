"""One prediction interface over networks and scikit-learn baselines.

Both take samples as the data stage stores them (uint8 N×H×W×C images or float N×F features)
and give class probabilities, so metrics, latency and (later) serving treat them alike:
outputs apart from scores.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from sklearn.base import BaseEstimator

from practica.data.mapped import chunks, is_mapped
from practica.models import baselines
from practica.models.classifier import count_parameters, weight_bytes
from practica.training.trainer import as_input


class Predictor(Protocol):
    params: int
    size_bytes: int

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities for N samples."""
        ...


class TorchPredictor:
    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", batch_size: int = 1024):
        self.model = model.eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.params = count_parameters(model)
        self.size_bytes = weight_bytes(model)

    @torch.inference_mode()
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if is_mapped(x) or not x.flags.writeable:  # memory-mapped: read and convert a batch at a time
            return self._predict_batches(x)
        t = torch.from_numpy(x)
        if t.ndim == 4:
            t = t.permute(0, 3, 1, 2)
        out = []
        for i in range(0, len(t), self.batch_size):
            batch = as_input(t[i : i + self.batch_size].to(self.device))
            out.append(torch.softmax(self.model(batch).float(), dim=1).cpu())
        return torch.cat(out).numpy()


    def _predict_batches(self, x: np.ndarray) -> np.ndarray:
        out = []
        for _, rows in chunks(x, self.batch_size):
            t = torch.from_numpy(np.array(rows))  # the same tensor as a slice of x's
            if t.ndim == 4:
                t = t.permute(0, 3, 1, 2)
            out.append(torch.softmax(self.model(as_input(t.to(self.device))).float(), dim=1).cpu())
        return torch.cat(out).numpy()


class SklearnPredictor:
    def __init__(self, estimator: BaseEstimator, num_classes: int):
        self.estimator = estimator
        self.num_classes = num_classes
        self.params = baselines.count_params(estimator)
        self.size_bytes = baselines.size_bytes(estimator)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        proba = self.estimator.predict_proba(baselines.as_features(x))
        # A subsampled training set may lack a class: widen to every class the data set has.
        full = np.zeros((len(x), self.num_classes), dtype=np.float64)
        full[:, np.asarray(self.estimator.classes_, dtype=int)] = proba
        return full
