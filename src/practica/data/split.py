"""Seeded, stratified train/val/test splits that keep duplicate groups together, and the
fingerprint that identifies them.

Group-aware division (``_divide_groups``), used whenever a part of the data holds a group of
two or more exact or near duplicates (see ``clean.py``): the groups are placed first, largest
first (ties in seeded random order), each on the side whose share of the group's main class is
furthest below its target; then the single samples of each class fill each side up to its
target for that class, drawn at random under the seed. Each class's targets are its share of
the part's size, rounded as scikit-learn's stratified split rounds them. With no group of two,
the division is scikit-learn's ``train_test_split``, exactly as before.

A regression set is stratified on its target's quantile bins (``targets.as_strata``: deciles, fewer
for small sets), so train, validation and test each span the target's whole range.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from practica.config.schema import DatasetSpec, SplitSpec
from practica.data import mapped
from practica.data.clean import Cleaning, clean
from practica.data.records import Dataset, Splits
from practica.errors import DataError

_LISTED_SKIPS = 5
SPLITS_DIR = "splits"  # under the data cache: memory-mapped splits, one folder per fingerprint
# A class this many times more frequent in training than the rarest one is worth a warning.
IMBALANCE_RATIO = 3.0


def make_splits(data: Dataset, spec: DatasetSpec, test: Dataset | None, cleaning: Cleaning | None = None) -> Splits:
    """Split ``data`` into train/val (and test, unless ``test`` is a fixed test set).

    The cleaning policy (``spec.clean``, or the ``cleaning`` already made from it) first drops
    samples and groups duplicates; ``spec.max_samples`` then keeps a stratified subset. Fractions
    are of the data kept; indices point into ``data`` (into ``test`` for a fixed test set) and are
    sorted. No duplicate group straddles two splits.
    """
    split = spec.split
    if cleaning is None:
        cleaning = clean(data, spec.clean, test)
    groups = cleaning.groups
    pool = cleaning.keep
    full = data
    if data.is_regression:  # divided as a classification of the target's quantile bins; subsets of the data
        from practica.data.targets import as_strata

        data = as_strata(data)
    notes = _skip_note(data, "data") + (_skip_note(test, "fixed test set") if test is not None else [])
    notes += list(cleaning.notes)
    if spec.max_samples is not None and spec.max_samples < len(pool):
        kept = len(pool)
        pool, _ = _divide(data, pool, spec.max_samples, split, "to take dataset.max_samples from")
        notes.append(f"kept a stratified subset of {len(pool)} of {kept} samples (dataset.max_samples)")
    n_val = math.ceil(split.val * len(pool))
    if test is None:
        n_test = math.ceil(split.test * len(pool))
        rest, test_idx = _divide(data, pool, len(pool) - n_test, split, "to split the test set from", groups)
        train_idx, val_idx = _divide(data, rest, len(rest) - n_val, split, "left after the test split", groups)
    else:
        train_idx, val_idx = _divide(data, pool, len(pool) - n_val, split, "to split the validation set from", groups)
        test_idx = np.arange(len(test))
    indices = {"train": train_idx, "val": val_idx, "test": test_idx}
    data = full
    fp = fingerprint(data, test, indices, split.seed, cleaning)
    # A memory-mapped set's splits are copied once, a chunk at a time, into their own mapped files
    # in the cache, named by the fingerprint (which covers the contents and the indices): no copy
    # in memory, and the next run on the same data and split maps them again.
    train = data.subset(train_idx, "train", path=split_file(fp, "train"))
    notes += _imbalance_note(train)
    return Splits(
        train=train,
        val=data.subset(val_idx, "val", path=split_file(fp, "val")),
        test=(data if test is None else test).subset(test_idx, "test", path=split_file(fp, "test")),
        indices=indices,
        fingerprint=fp,
        seed=split.seed,
        test_is_fixed=test is not None,
        notes=tuple(notes),
        decisions=cleaning.decisions,
        groups=groups,
    )


def fingerprint(
    data: Dataset, test: Dataset | None, indices: dict[str, np.ndarray], seed: int, cleaning: Cleaning | None = None
) -> str:
    """sha256 over samples, labels, classes, split indices and seed, and the cleaning policy and
    what it dropped: the same data split alike but cleaned otherwise is another data set."""
    h = hashlib.sha256()
    for ds in (data, test) if test is not None else (data,):
        h.update(json.dumps([ds.x.shape, str(ds.x.dtype), list(ds.classes)]).encode())
        mapped.update_hash(h, ds.x)
        h.update(np.ascontiguousarray(ds.y, dtype=np.float64 if ds.is_regression else np.int64))
    for name in ("train", "val", "test"):
        h.update(name.encode())
        h.update(np.ascontiguousarray(indices[name], dtype=np.int64))
    h.update(str(seed).encode())
    if cleaning is not None:
        h.update(json.dumps(cleaning.policy.model_dump(mode="json"), sort_keys=True).encode())
        h.update(json.dumps([[d.action, d.rule, d.set, list(d.indices)] for d in cleaning.decisions]).encode())
    return h.hexdigest()


def split_file(fp: str, part: str) -> Path:
    """Where a memory-mapped set's ``part`` split of fingerprint ``fp`` is kept (under the data cache)."""
    from practica.data.cache import cache_dir

    return cache_dir() / SPLITS_DIR / fp / f"{part}.npy"


def _divide(
    data: Dataset, idx: np.ndarray, n_first: int, split: SplitSpec, stage: str, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two sorted parts of ``idx``, of ``n_first`` and the rest, stratified by label if asked,
    with every group of ``groups`` (an id per sample of ``data``) whole on one side."""
    n_second = len(idx) - n_first
    if n_first < 1 or n_second < 1:
        raise DataError(
            f"{len(idx)} samples are too few {stage} (split.val {split.val}, split.test {split.test}); "
            "each split needs at least one sample. Use more data or change the split fractions."
        )
    labels = data.y[idx]
    if split.stratify:
        _check_stratifiable(data, labels, n_first, n_second, split, stage)
    if groups is not None and len(np.unique(groups[idx])) < len(idx):
        return _divide_groups(data, idx, n_second, split, stage, groups[idx])
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
    return [f"skipped {len(data.skipped)} {data.skipped_noun}(s) of the {what} that could not be used: {listed}{more}"]


def _divide_groups(
    data: Dataset, idx: np.ndarray, n_second: int, split: SplitSpec, stage: str, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_divide`` with groups: see the module's docstring for how."""
    rng = np.random.default_rng(split.seed)
    k = len(data.classes)
    labels = data.y[idx]
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    counts = np.bincount(labels, minlength=k)
    if split.stratify:
        target2 = _stratified_counts(counts, n_second)
    else:  # one pseudo-class: only the sizes are targets
        target2 = np.zeros(k, dtype=np.int64)
        target2[0] = n_second
        labels = np.zeros_like(labels)
        counts = np.bincount(labels, minlength=k)
    target1 = counts - target2
    have1, have2 = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
    second = np.zeros(len(idx), dtype=bool)
    multi = np.flatnonzero(sizes > 1)
    order = multi[rng.permutation(len(multi))]
    order = order[np.argsort(-sizes[order], kind="stable")]
    for g in order:
        members = np.flatnonzero(inverse == g)
        dist = np.bincount(labels[members], minlength=k)
        c = int(np.argmax(dist))
        # the side whose target for the group's main class is least met, as a share of it
        need1 = (target1[c] - have1[c]) / max(target1[c], 1)
        need2 = (target2[c] - have2[c]) / max(target2[c], 1)
        if need2 > need1:
            second[members] = True
            have2 += dist
        else:
            have1 += dist
    alone = sizes[inverse] == 1
    for c in range(k):
        singles = np.flatnonzero(alone & (labels == c))
        take = int(np.clip(target2[c] - have2[c], 0, len(singles)))
        second[rng.permutation(singles)[:take]] = True
    if second.all() or not second.any():
        raise DataError(
            f"the {len(idx)} samples {stage} form only {len(sizes)} group(s) of duplicates, too few to split "
            f"(split.val {split.val}, split.test {split.test}). Lower dataset.clean.near_distance, or drop the "
            "duplicates (dataset.clean.duplicates: drop_near)."
        )
    return np.sort(idx[~second]), np.sort(idx[second])


def _stratified_counts(counts: np.ndarray, n: int) -> np.ndarray:
    """How many of each class a part of ``n`` samples gets: its share, largest remainders rounded up."""
    total = counts.sum()
    exact = counts * n / total
    out = np.floor(exact).astype(np.int64)
    rest = n - out.sum()
    if rest > 0:
        out[np.argsort(-(exact - out), kind="stable")[:rest]] += 1
    return np.minimum(out, counts)


def _imbalance_note(train: Dataset) -> list[str]:
    if train.is_regression:
        return []
    counts = np.bincount(train.y, minlength=len(train.classes))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        return []
    big, small = present[np.argmax(counts[present])], present[np.argmin(counts[present])]
    ratio = counts[big] / counts[small]
    if ratio < IMBALANCE_RATIO:
        return []
    note = (
        f"the classes are imbalanced: '{train.classes[big]}' has {counts[big]} training samples, "
        f"'{train.classes[small]}' {counts[small]} ({ratio:.1f}:1, warned from {IMBALANCE_RATIO:g}:1). Accuracy "
        "rewards predicting the common classes; consider train.class_weight: balanced and selection.metric: "
        "val_macro_f1."
    )
    return [note]
