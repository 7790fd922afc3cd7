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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

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


PARITY_ROWS = 256  # rows a bf16 scoring pass also computes in fp32, to measure bf16's error
RECHECK_SAFETY = 2.0  # near ties: a margin under this many times bf16's largest possible shift of it is recomputed
RECHECK_FLOOR = 1e-3  # ... and never under this (a probability margin)


@dataclass(frozen=True)
class Bf16Check:
    """What a bf16 scoring pass did to keep fp32's predicted classes (``TorchPredictor(precision="bf16")``).

    ``parity_rows`` were computed both ways; ``max_error`` is bf16's largest absolute probability error
    on them; every row whose top-two probability margin under bf16 was below ``threshold`` (``max_error``
    × ``RECHECK_SAFETY`` × 2, at least ``RECHECK_FLOOR``) was recomputed in fp32 (``rechecked``, the
    parity rows included): bf16's error could have flipped its class, no other's could unless bf16 erred
    there by more than ``RECHECK_SAFETY`` times its largest error on the parity rows."""

    rows: int
    parity_rows: int
    max_error: float
    threshold: float
    rechecked: int

    @classmethod
    def merge(cls, checks: list[Bf16Check]) -> Bf16Check:
        """One record for several passes (a run's train, validation and test scoring)."""
        return cls(sum(c.rows for c in checks), sum(c.parity_rows for c in checks),
                   max(c.max_error for c in checks), max(c.threshold for c in checks),
                   sum(c.rechecked for c in checks))

    def describe(self) -> str:
        return (f"scored under bf16 autocast, as trained: {self.rechecked:,} of {self.rows:,} rows recomputed in fp32 "
                f"({self.parity_rows:,} to measure bf16's error, at most {self.max_error:.4f} in a probability, and "
                f"every near tie, a top-two margin under {self.threshold:.4f}), so the predicted classes are fp32's")


class TorchPredictor:
    """A network's predictor. ``precision="bf16"`` scores a classifier under bf16 autocast (2–3× faster
    on a CPU with AMX than fp32, which export and serving use) and recomputes in fp32 every row whose
    class bf16's measured error could change (``Bf16Check``, kept in ``checks``): the predicted classes,
    hence accuracy and every count, are fp32's; the probabilities of the other rows differ from fp32's
    by at most bf16's error (a few thousandths). For the bulk scoring of a run that trained in bf16;
    timing and export use fp32."""

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", batch_size: int = 1024,
                 precision: Literal["fp32", "bf16"] = "fp32"):
        self.model = model.eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.params = count_parameters(model)
        self.size_bytes = weight_bytes(model)
        self.task = "regression" if isinstance(model, Regressor) else "classification"
        self._out = ((lambda t: torch.softmax(t.float(), dim=1)) if get_task(self.task).has_classes
                     else (lambda t: t.float()))
        self.precision = precision if get_task(self.task).has_classes else "fp32"
        self.checks: list[Bf16Check] = []

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if not get_task(self.task).has_classes:
            raise _not_a_classifier()
        return self.outputs(x)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        if self.precision == "bf16" and len(x):
            return self._bf16_outputs(x)
        return self._forward(x, bf16=False).numpy()

    def _bf16_outputs(self, x: np.ndarray) -> np.ndarray:
        proba = self._forward(x, bf16=True).numpy().copy()
        # A seeded sample of rows, wherever they are: a split may be ordered by class.
        parity = np.sort(np.random.default_rng(0).permutation(len(x))[:PARITY_ROWS])
        exact = self._forward(np.asarray(x[parity]), bf16=False).numpy()
        max_error = float(np.abs(proba[parity] - exact).max())
        threshold = max(2 * RECHECK_SAFETY * max_error, RECHECK_FLOOR)
        top2 = -np.sort(-proba, axis=1)[:, :2]
        margin = top2[:, 0] - top2[:, -1] if proba.shape[1] > 1 else np.full(len(x), np.inf)
        near = np.setdiff1d(np.flatnonzero(margin < threshold), parity)
        proba[parity] = exact
        if len(near):
            proba[near] = self._forward(np.asarray(x[near]), bf16=False).numpy()
        self.checks.append(Bf16Check(len(x), len(parity), max_error, threshold, len(parity) + len(near)))
        return proba

    @torch.inference_mode()
    def _forward(self, x: np.ndarray, bf16: bool) -> torch.Tensor:
        out = []
        for batch in self._batches(x):
            if bf16 and batch.ndim == 4:  # oneDNN's bf16 convolutions are fastest channels-last
                batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = self.model(batch)
            out.append(self._out(logits).cpu())
        return torch.cat(out) if out else torch.empty(0)

    def _batches(self, x: np.ndarray) -> Iterator[torch.Tensor]:
        if is_mapped(x) or not x.flags.writeable:  # memory-mapped: read and convert a batch at a time
            for _, rows in chunks(x, self.batch_size):
                yield as_input(_channels_first(torch.from_numpy(np.array(rows))).to(self.device))
            return
        t = _channels_first(torch.from_numpy(x))
        for i in range(0, len(t), self.batch_size):
            yield as_input(t[i : i + self.batch_size].to(self.device))


def _channels_first(t: torch.Tensor) -> torch.Tensor:
    """N×H×W×C images as the network takes them (N×C×H×W); other inputs unchanged."""
    return t.permute(0, 3, 1, 2) if t.ndim == 4 else t


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
