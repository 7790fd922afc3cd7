"""Seeded, stratified train/val/test splits, and the fingerprint that identifies them."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
from sklearn.model_selection import train_test_split

from practica.config.schema import DatasetSpec, SplitSpec
from practica.data.records import Dataset, Splits
from practica.errors import DataError

_LISTED_SKIPS = 5


def make_splits(data: Dataset, spec: DatasetSpec, test: Dataset | None) -> Splits:
    """Split ``data`` into train/val (and test, unless ``test`` is a fixed test set).

    ``spec.max_samples`` first keeps a stratified subset. Fractions are of the data kept;
    indices point into ``data`` (into ``test`` for a fixed test set) and are sorted.
    """
    split = spec.split
    pool = np.arange(len(data))
    notes = _skip_note(data, "data") + (_skip_note(test, "fixed test set") if test is not None else [])
    if spec.max_samples is not None and spec.max_samples < len(data):
        pool, _ = _divide(data, pool, spec.max_samples, split, "to take dataset.max_samples from")
        notes.append(f"kept a stratified subset of {len(pool)} of {len(data)} samples (dataset.max_samples)")
    n_val = math.ceil(split.val * len(pool))
    if test is None:
        n_test = math.ceil(split.test * len(pool))
        rest, test_idx = _divide(data, pool, len(pool) - n_test, split, "to split the test set from")
        train_idx, val_idx = _divide(data, rest, len(rest) - n_val, split, "left after the test split")
    else:
        train_idx, val_idx = _divide(data, pool, len(pool) - n_val, split, "to split the validation set from")
        test_idx = np.arange(len(test))
    indices = {"train": train_idx, "val": val_idx, "test": test_idx}
    return Splits(
        train=data.subset(train_idx, "train"),
        val=data.subset(val_idx, "val"),
        test=(data if test is None else test).subset(test_idx, "test"),
        indices=indices,
        fingerprint=fingerprint(data, test, indices, split.seed),
        seed=split.seed,
        test_is_fixed=test is not None,
        notes=tuple(notes),
    )


def fingerprint(data: Dataset, test: Dataset | None, indices: dict[str, np.ndarray], seed: int) -> str:
    """sha256 over samples, labels, classes, split indices and seed."""
    h = hashlib.sha256()
    for ds in (data, test) if test is not None else (data,):
        h.update(json.dumps([ds.x.shape, str(ds.x.dtype), list(ds.classes)]).encode())
        h.update(np.ascontiguousarray(ds.x))
        h.update(np.ascontiguousarray(ds.y, dtype=np.int64))
    for name in ("train", "val", "test"):
        h.update(name.encode())
        h.update(np.ascontiguousarray(indices[name], dtype=np.int64))
    h.update(str(seed).encode())
    return h.hexdigest()


def _divide(
    data: Dataset, idx: np.ndarray, n_first: int, split: SplitSpec, stage: str
) -> tuple[np.ndarray, np.ndarray]:
    """Two sorted parts of ``idx``, of ``n_first`` and the rest, stratified by label if asked."""
    n_second = len(idx) - n_first
    if n_first < 1 or n_second < 1:
        raise DataError(
            f"{len(idx)} samples are too few {stage} (split.val {split.val}, split.test {split.test}); "
            "each split needs at least one sample. Use more data or change the split fractions."
        )
    labels = data.y[idx]
    if split.stratify:
        _check_stratifiable(data, labels, n_first, n_second, split, stage)
    first, second = train_test_split(
        idx,
        train_size=n_first,
        test_size=n_second,
        random_state=split.seed,
        stratify=labels if split.stratify else None,
    )
    return np.sort(first), np.sort(second)


def _check_stratifiable(
    data: Dataset, labels: np.ndarray, n_first: int, n_second: int, split: SplitSpec, stage: str
) -> None:
    counts = np.bincount(labels, minlength=len(data.classes))
    present = np.flatnonzero(counts)
    rarest = present[np.argmin(counts[present])]
    if counts[rarest] < 2:
        name = data.classes[rarest]
        raise DataError(
            f"class '{name}' has only {counts[rarest]} sample {stage}; a stratified split needs at least 2 "
            f"per class. Add samples of '{name}', remove that class, or set dataset.split.stratify: false."
        )
    smaller = min(n_first, n_second)
    if smaller < len(present):
        raise DataError(
            f"of the {n_first + n_second} samples {stage}, one part would get {smaller}, fewer than the "
            f"{len(present)} classes, so a stratified split cannot give it every class. Change "
            "dataset.split.val / dataset.split.test or dataset.max_samples, or set dataset.split.stratify: false."
        )


def _skip_note(data: Dataset, what: str) -> list[str]:
    if not data.skipped:
        return []
    listed = "; ".join(data.skipped[:_LISTED_SKIPS])
    more = f"; and {len(data.skipped) - _LISTED_SKIPS} more" if len(data.skipped) > _LISTED_SKIPS else ""
    return [f"skipped {len(data.skipped)} file(s) of the {what} that could not be decoded: {listed}{more}"]
