"""One prediction interface over networks and scikit-learn baselines.

Both take samples as the data stage stores them (uint8 N×H×W×C images, float N×F features, or an
object array of N ``str`` texts, which a text model tokenises inside: ``TextPredictor`` for a
network, a ``TokenCounts`` first step for a baseline) and give class probabilities
(``predict_proba``) for a task with classes; ``outputs`` is whichever the model gives
(probabilities, or a regressor's values), as a 2-D array, for what treats both alike (timing,
export parity): outputs apart from scores.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from sklearn.base import BaseEstimator

from practica.data.storage.mapped import chunks, is_mapped
from practica.models import baselines
from practica.models.classifier import Regressor, as_input, count_parameters, weight_bytes
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.data.tokenizer import TextTokenizer


class Predictor(Protocol):
    params: int
    size_bytes: int
    task: str  # the name of its ``practica.tasks`` task

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities for N samples (classifiers)."""
        ...

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities, or (N, 1) values for a regressor."""
        ...


def _not_a_classifier() -> ValueError:
    return ValueError("predict_proba() of a regressor: it predicts values, not class probabilities; use outputs()")


class TorchPredictor:
    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", batch_size: int = 1024):
        self.model = model.eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.params = count_parameters(model)
        self.size_bytes = weight_bytes(model)
        self.task = "regression" if isinstance(model, Regressor) else "classification"
        self._out = ((lambda t: torch.softmax(t.float(), dim=1)) if get_task(self.task).has_classes
                     else (lambda t: t.float()))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if not get_task(self.task).has_classes:
            raise _not_a_classifier()
        return self.outputs(x)

    @torch.inference_mode()
    def outputs(self, x: np.ndarray) -> np.ndarray:
        if is_mapped(x) or not x.flags.writeable:  # memory-mapped: read and convert a batch at a time
            return self._predict_batches(x)
        t = torch.from_numpy(x)
        if t.ndim == 4:
            t = t.permute(0, 3, 1, 2)
        out = []
        for i in range(0, len(t), self.batch_size):
            batch = as_input(t[i : i + self.batch_size].to(self.device))
            out.append(self._out(self.model(batch)).cpu())
        return torch.cat(out).numpy()


    def _predict_batches(self, x: np.ndarray) -> np.ndarray:
        out = []
        for _, rows in chunks(x, self.batch_size):
            t = torch.from_numpy(np.array(rows))  # the same tensor as a slice of x's
            if t.ndim == 4:
                t = t.permute(0, 3, 1, 2)
            out.append(self._out(self.model(as_input(t.to(self.device)))).cpu())
        return torch.cat(out).numpy()


class TextPredictor:
    """A text network's predictor: texts in, tokenised by the tokenizer fitted on the training split, then
    the network's ``TorchPredictor``. Its timings include the tokenisation, as a served model's do; its
    size, the tokenizer's JSON (the vocabulary a deployment ships)."""

    def __init__(self, network: TorchPredictor, tokenizer: TextTokenizer):
        self.network = network
        self.tokenizer = tokenizer
        self.task = network.task
        self.params = network.params
        self.size_bytes = network.size_bytes + len(json.dumps(tokenizer.to_dict()).encode())

    @property
    def model(self) -> torch.nn.Module:
        """The ``TextClassifier`` (token ids in, logits out)."""
        return self.network.model

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.network.outputs(self.tokenizer.encode(np.asarray(x).tolist()))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.network.predict_proba(self.tokenizer.encode(np.asarray(x).tolist()))


class SklearnPredictor:
    """``num_classes`` 0: a regressor (its ``predict`` gives the values)."""

    def __init__(self, estimator: BaseEstimator, num_classes: int):
        self.estimator = estimator
        self.num_classes = num_classes
        self.task = "regression" if num_classes == 0 else "classification"
        self.params = baselines.count_params(estimator)
        self.size_bytes = baselines.size_bytes(estimator)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        if not get_task(self.task).has_classes:
            return np.asarray(self.estimator.predict(baselines.as_features(x)), dtype=np.float32).reshape(-1, 1)
        return self.predict_proba(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if not get_task(self.task).has_classes:
            raise _not_a_classifier()
        proba = self.estimator.predict_proba(baselines.as_features(x))
        # A subsampled training set may lack a class: widen to every class the data set has.
        full = np.zeros((len(x), self.num_classes), dtype=np.float64)
        full[:, np.asarray(self.estimator.classes_, dtype=int)] = proba
        return full
