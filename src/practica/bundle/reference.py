"""Reference statistics of what the model saw in training and what it answered on validation.

Drift monitoring compares live traffic against these; they are summaries (moments, quantiles,
histograms), never samples, so a bundle carries no training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from practica.data.tokenizer import TextTokenizer

REFERENCE_SAMPLES = 10_000  # a random subset is plenty for histograms at this resolution
PIXEL_BINS = 16
CONFIDENCE_BINS = 10
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _subset(x: np.ndarray, seed: int = 0) -> np.ndarray:
    if len(x) <= REFERENCE_SAMPLES:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), REFERENCE_SAMPLES, replace=False))]


def input_reference(x: np.ndarray) -> dict:
    x = _subset(x)
    if x.ndim == 4:  # uint8 N×H×W×C
        pixels = x.reshape(-1, x.shape[-1])
        flat = x.reshape(len(x), -1)
        per_image = flat.mean(axis=1) / 255.0
        # each image's contrast (the std of its pixels), as the prediction log records it; in chunks, so
        # 10,000 CIFAR images never need a 250 MB float copy at once
        contrast = np.concatenate([flat[i:i + 1000].std(axis=1) for i in range(0, len(flat), 1000)]) / 255.0
        edges = np.linspace(0, 256, PIXEL_BINS + 1)
        return {
            "kind": "image",
            "samples": int(len(x)),
            "channel_mean": (pixels.mean(axis=0) / 255.0).tolist(),
            "channel_std": (pixels.std(axis=0) / 255.0).tolist(),
            "pixel_histogram": {
                "edges": edges.tolist(),
                "frequencies": [(np.histogram(pixels[:, c], bins=edges)[0] / len(pixels)).tolist()
                                for c in range(x.shape[-1])],
            },
            "image_brightness_quantiles": dict(zip(map(str, QUANTILES), np.quantile(per_image, QUANTILES).tolist(),
                                                   strict=True)),
            "image_contrast_quantiles": dict(zip(map(str, QUANTILES), np.quantile(contrast, QUANTILES).tolist(),
                                                 strict=True)),
        }
    features = []
    for j in range(x.shape[1]):
        col = x[:, j].astype(np.float64)
        lo, hi = float(col.min()), float(col.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 11)
        features.append({
            "mean": float(col.mean()), "std": float(col.std()), "min": lo, "max": hi,
            "quantiles": dict(zip(map(str, QUANTILES), np.quantile(col, QUANTILES).tolist(), strict=True)),
            "histogram": {"edges": edges.tolist(),
                          "frequencies": (np.histogram(col, bins=edges)[0] / len(col)).tolist()},
        })
    return {"kind": "features", "samples": int(len(x)), "features": features}


def text_reference(train: Sequence[str], val: Sequence[str], tokenizer: TextTokenizer) -> dict:
    """A text model's inputs: how long the training texts are (characters, tokens), how many are cut at
    ``max_length``, and the share of unknown tokens in the training and validation texts (the validation
    share is what production text should look like: the tokenizer never saw those texts)."""
    texts = [str(t) for t in _subset(np.asarray(train, dtype=object))]  # a seeded subset of a large split
    lengths = np.array([len(ids) for ids in tokenizer.tokens(texts)] or [0], dtype=np.float64)
    chars = np.array([len(t) for t in texts] or [0], dtype=np.float64)
    val_texts = [str(t) for t in _subset(np.asarray(val, dtype=object))]
    return {
        "kind": "text",
        "samples": len(texts),
        "tokenizer": tokenizer.describe(),
        "token_length_quantiles": dict(zip(map(str, QUANTILES), np.quantile(lengths, QUANTILES).tolist(), strict=True)),
        "char_length_quantiles": dict(zip(map(str, QUANTILES), np.quantile(chars, QUANTILES).tolist(), strict=True)),
        "token_length_mean": float(lengths.mean()),
        "cut_rate": float((lengths > tokenizer.max_length).mean()),
        "unknown_rate": tokenizer.unknown_rate(texts),
        "val_unknown_rate": tokenizer.unknown_rate(val_texts) if val_texts else None,
    }


def output_reference(proba: np.ndarray, classes: tuple[str, ...]) -> dict:
    predicted = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    edges = np.linspace(0.0, 1.0, CONFIDENCE_BINS + 1)
    return {
        "samples": int(len(proba)),
        # proba has one column per class, so the bincount has exactly len(classes) entries
        "predicted_class_frequencies": dict(zip(classes,
                                                (np.bincount(predicted, minlength=len(classes)) / len(proba)).tolist(),
                                                strict=True)),
        "confidence_mean": float(confidence.mean()),
        "confidence_histogram": {"edges": edges.tolist(),
                                 "frequencies": (np.histogram(confidence, bins=edges)[0] / len(proba)).tolist()},
    }


VALUE_BINS = 20


def value_reference(values: np.ndarray) -> dict:
    """A regressor's predictions on validation: moments, quantiles and a histogram (drift in what it answers)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if not len(v):
        return {"samples": 0}
    lo, hi = float(v.min()), float(v.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, VALUE_BINS + 1)
    return {
        "samples": int(len(v)),
        "prediction_mean": float(v.mean()),
        "prediction_std": float(v.std()),
        "prediction_quantiles": dict(zip(map(str, QUANTILES), np.quantile(v, QUANTILES).tolist(), strict=True)),
        "prediction_histogram": {"edges": edges.tolist(),
                                 "frequencies": (np.histogram(v, bins=edges)[0] / len(v)).tolist()},
    }
