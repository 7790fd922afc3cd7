"""Predict items in batches: decode image files a chunk at a time, run the bundle, yield one row per item."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice
from pathlib import Path

import numpy as np
from PIL import Image

from practica.bundle.inputs import DEFAULT_MAX_PIXELS, InputSpec, check_image_size, too_large_message
from practica.bundle.load import Bundle
from practica.bundle.ood import OodScorer
from practica.data.sources.decode import CHUNK_SIZE, PARALLEL_MIN_FILES, decode_or_reason, map_chunks
from practica.errors import InputError
from practica.prediction.sources import DEFAULT_TEXT_COLUMN, Item, TextColumns, open_inputs
from practica.tasks import get_task

BATCH_SIZE = 256
DEFAULT_TOP_K = 3
# Decoded images held at once: enough files for decode_many to keep every core busy,
# few enough that a folder of large photos never sits in memory whole.
DECODE_BUDGET_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Row:
    """One output row: a prediction, or the error that prevented it."""

    input: str
    prediction: str | None = None
    probability: float | None = None
    top_k: tuple[tuple[str, float], ...] = ()
    true_label: str | None = None  # a regressor's: the true value
    error: str | None = None
    value: float | None = None  # a regressor's predicted value (``prediction`` holds it as text)
    # How unlike the training data the input is (``bundle.ood``): None for a bundle without ood.json
    ood_score: float | None = None
    ood_flag: bool | None = None
    ood_reason: str | None = None


@dataclass
class Summary:
    predicted: int = 0
    failed: int = 0
    unfamiliar: int = 0  # predicted items flagged as unlike the training data
    labelled: int = 0  # predicted items whose true label (or value) is known
    correct: int = 0
    abs_error: float = 0.0  # a regressor's: summed over the labelled items
    regression: bool = False

    def add(self, row: Row) -> None:
        if row.error is not None:
            self.failed += 1
            return
        self.predicted += 1
        self.unfamiliar += bool(row.ood_flag)
        if row.true_label is not None:
            self.labelled += 1
            if row.value is not None:
                self.regression = True
                self.abs_error += abs(row.value - float(row.true_label))
            else:
                self.correct += row.prediction == row.true_label

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled and not self.regression else None

    @property
    def mae(self) -> float | None:
        """A regressor's mean absolute error over the items with a known true value."""
        return self.abs_error / self.labelled if self.labelled and self.regression else None


class Predictions:
    """The rows for some INPUT arguments, streamed once; ``summary`` fills as they are read.

    Opening checks every argument (a missing path or unknown kind raises ``InputError``)
    before anything is decoded or predicted."""

    def __init__(self, bundle: Bundle, inputs: Sequence[str | Path], *, top_k: int = DEFAULT_TOP_K,
                 batch_size: int = BATCH_SIZE, max_image_pixels: int = DEFAULT_MAX_PIXELS,
                 texts: Sequence[str] = (), text_column: str | None = None) -> None:
        bundle.session  # noqa: B018 — a model that cannot load, or disagrees with its card, fails before any input is read
        bundle.tokenizer  # noqa: B018 — and a text model's tokenizer too
        self.bundle = bundle
        self.sources = open_inputs(inputs, bundle.input, bundle.classes, texts=texts,
                                   columns=text_columns(bundle, text_column))
        self.total = sum(s.count for s in self.sources)
        self.top_k = top_k
        self.batch_size = batch_size
        self.max_image_pixels = max_image_pixels
        self.summary = Summary()

    def __iter__(self) -> Iterator[Row]:
        items = chain.from_iterable(s.items for s in self.sources)
        for row in predict_items(self.bundle, items, top_k=self.top_k, batch_size=self.batch_size,
                                 max_image_pixels=self.max_image_pixels):
            self.summary.add(row)
            yield row


def text_columns(bundle: Bundle, text_column: str | None = None) -> TextColumns:
    """Where a text model's CSV and JSON inputs keep the text: ``text_column``, else the column the model's data
    source read (the card's ``lineage.dataset``), else "text"; and the label, in the data source's label column
    when the file has it."""
    dataset = (bundle.card.get("lineage") or {}).get("dataset") or {}
    source_text = dataset.get("text_column") if isinstance(dataset, dict) else None
    source_label = dataset.get("label_column") if isinstance(dataset, dict) else None
    return TextColumns(text_column or (source_text if isinstance(source_text, str) else DEFAULT_TEXT_COLUMN),
                       source_label if isinstance(source_label, str) else None)


def predict_items(bundle: Bundle, items: Iterable[Item], *, top_k: int = DEFAULT_TOP_K,
                  batch_size: int = BATCH_SIZE, max_image_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Row]:
    """One row per item, in order. Image files are decoded a chunk at a time (in a process pool when many);
    one over ``max_image_pixels`` (width × height, read from its header) is refused, not decoded."""
    k = max(1, min(top_k, len(bundle.classes) or 1))
    scorer = OodScorer.from_bundle(bundle)
    chunk_size = _chunk_size(bundle.input, batch_size)
    batch_size = min(batch_size, chunk_size)
    items = iter(items)
    while chunk := list(islice(items, chunk_size)):
        inputs = _decode(chunk, bundle.input, max_image_pixels)
        for start in range(0, len(chunk), batch_size):
            end = start + batch_size
            yield from _predict_batch(bundle, scorer, chunk[start:end], inputs[start:end], k)


def _decode(chunk: list[Item], spec: InputSpec, max_pixels: int) -> list[np.ndarray | str]:
    """Each item's model input (a text model's: its text, as a 0-d object array), or why it has none."""
    paths = [it.path for it in chunk if it.path is not None]  # only image models get files (see sources)
    decoded = iter(map_chunks(partial(_decode_files, spec=spec, max_pixels=max_pixels), paths) if paths else [])
    inputs: list[np.ndarray | str] = []
    for item in chunk:
        if item.error is not None:
            inputs.append(item.error)
        elif item.text is not None:
            inputs.append(np.array(item.text, dtype=object))  # stacked, the batch's texts: tokenised together
        elif item.path is not None:
            inputs.append(next(decoded))
        else:
            assert item.array is not None, "an Item holds a path, an array or an error"  # see sources
            inputs.append(item.array)
    return inputs


def _decode_files(paths: list[str], spec: InputSpec, max_pixels: int) -> list[np.ndarray | str]:
    """Each file as the model's input, or why not; its size is checked from its header first."""
    out: list[np.ndarray | str] = []
    for path in paths:
        try:
            with Image.open(path) as img:
                check_image_size(img.size, spec, max_pixels)
        except InputError as err:
            out.append(str(err))
            continue
        except Image.DecompressionBombError as err:
            out.append(too_large_message(err, spec, max_pixels))
            continue
        except Exception:  # noqa: BLE001, S110 — unreadable: decode_or_reason says why, as for any file
            pass
        d = decode_or_reason(path, (spec.shape[0], spec.shape[1]), spec.shape[2])  # an image's (H, W), then C
        out.append(d.reshape(spec.shape) if isinstance(d, np.ndarray) else f"cannot decode the image: {d}")
    return out


def _predict_batch(bundle: Bundle, scorer: OodScorer | None, items: list[Item], inputs: list[np.ndarray | str],
                   k: int) -> Iterator[Row]:
    has_classes = get_task(bundle.task).has_classes
    good = [i for i, x in enumerate(inputs) if isinstance(x, np.ndarray)]
    # a text model's texts → its ONNX input (ids or counts), which its OOD score reads too
    x_good = bundle.encode(np.stack([inputs[i] for i in good])) if good else None
    inference = bundle.infer(x_good) if x_good is not None else None
    probs = inference.outputs if inference is not None else None
    # one output row per stacked input, so zip pairs each good index with its own row
    proba_of = dict(zip(good, probs, strict=True)) if probs is not None else {}
    # the class each input is predicted as: the bundle's threshold, when it has one, else the most probable
    label_of = dict(zip(good, bundle.decide(probs), strict=True)) if probs is not None and has_classes else {}
    ood_of: dict[int, dict] = {}
    if scorer is not None and inference is not None and x_good is not None:
        ood = scorer.score(x_good, inference.embedding)
        ood_of = {i: {"ood_score": float(ood.scores[j]), "ood_flag": bool(ood.flags[j]), "ood_reason": ood.reasons[j]}
                  for j, i in enumerate(good)}
    for i, item in enumerate(items):
        x = inputs[i]
        if not isinstance(x, np.ndarray):  # not in proba_of: x says why it has no input
            yield Row(item.name, true_label=item.label, error=x)
            continue
        p = proba_of[i]
        if not has_classes:  # p is the (1,) predicted value
            value = float(p[0])
            yield Row(item.name, f"{value:.6g}", true_label=item.label, value=value, **ood_of.get(i, {}))
            continue
        # Stable sort: ties go to the lower class index, as argmax does.
        top = np.argsort(-p, kind="stable")[:k]
        ranked = tuple((bundle.classes[j], float(p[j])) for j in top)
        label = int(label_of[i])
        yield Row(item.name, bundle.classes[label], float(p[label]), ranked, item.label, **ood_of.get(i, {}))


def _chunk_size(spec: InputSpec, batch_size: int) -> int:
    """Items per chunk: enough to keep every core decoding, within ``DECODE_BUDGET_BYTES`` of inputs
    (at least one; the batches are cut to fit the chunk, so large inputs never exceed the budget)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    wanted = max(PARALLEL_MIN_FILES, cpus * CHUNK_SIZE)
    sample_bytes = int(np.prod(spec.shape)) * np.dtype(spec.onnx_dtype).itemsize
    return max(1, min(wanted, DECODE_BUDGET_BYTES // sample_bytes))
