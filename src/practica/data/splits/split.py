"""Seeded, stratified train/val/test splits that keep duplicate groups together, and the
fingerprint that identifies them.

Every split gets its declared fraction of every class, to within one sample (the division's
targets), and every class of two samples or more has at least one sample on each side; what
cannot be divided so is a ``DataError`` that says why.

Group-aware division (``_divide_groups``), used whenever a part of the data holds a group of
two or more exact or near duplicates (see ``clean.py``): the groups are placed first, largest
first (ties in seeded random order), each on the side it overfills least (class by class), and
among sides it fits, the one whose share of the group's main class is furthest below its
target; then the single samples of each class fill each side up to its target for that class,
drawn at random under the seed. Each class's targets are its share of the part's size, rounded
as scikit-learn's stratified split rounds them, and at least one per side. When the groups
leave a class further than one sample, or 1% of the class, from its targets, or absent from a
side, the division stops with an error naming the class and the group, and the settings that
make groups smaller (groups are never broken up: they exist to keep copies of one image out of
two splits). With no group of two, the division is scikit-learn's ``train_test_split``, as
before, unless it would leave a rare class out of a side.

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
from practica.data.duplicates.clean import Cleaning, clean
from practica.data.duplicates.index import DuplicateIndex
from practica.data.records import Dataset, Splits
from practica.data.storage import mapped
from practica.errors import DataError
from practica.tasks import get_task

_LISTED_SKIPS = 5
SPLITS_DIR = "splits"  # under the data cache: memory-mapped splits, one folder per fingerprint
# A class this many times more frequent in training than the rarest one is worth a warning.
IMBALANCE_RATIO = 3.0
# How far duplicate groups may push a side's count of a class from its target: this share of the
# class, or one sample when that is more.
GROUP_TOLERANCE = 0.01


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
    if not get_task(data.task).has_classes:  # divided as a classification of the target's quantile bins
        from practica.data.sources.targets import as_strata

        data = as_strata(data)
    notes = [*data.notes, *(test.notes if test is not None else ())]
    notes += _skip_note(data, "data") + (_skip_note(test, "fixed test set") if test is not None else [])
    notes += list(cleaning.notes)
    if spec.max_samples is not None and spec.max_samples < len(pool):
        kept = len(pool)
        pool, _ = _divide(data, pool, spec.max_samples, split, "to take dataset.max_samples from")
        notes.append(f"kept a stratified subset of {len(pool)} of {kept} samples (dataset.max_samples)")
    n_val = math.ceil(split.val * len(pool))
    if test is None:
        n_test = math.ceil(split.test * len(pool))
        rest, test_idx = _divide(data, pool, len(pool) - n_test, split, "to split the test set from", groups,
                                 ("train and validation", "test"))
        train_idx, val_idx = _divide(data, rest, len(rest) - n_val, split, "left after the test split", groups,
                                     ("train", "validation"))
    else:
        train_idx, val_idx = _divide(data, pool, len(pool) - n_val, split, "to split the validation set from", groups,
                                     ("train", "validation"))
        test_idx = np.arange(len(test))
    indices = {"train": train_idx, "val": val_idx, "test": test_idx}
    data = full
    fp = fingerprint(data, test, indices, split.seed, cleaning)
    # A memory-mapped set's splits are copied once, a chunk at a time, into their own mapped files
    # in the cache, named by the fingerprint (which covers the contents and the indices): no copy
    # in memory, and the next run on the same data and split maps them again.
    train = data.subset(train_idx, "train", path=split_file(fp, "train"))
    notes += _imbalance_note(train, data.y[cleaning.dropped()] if get_task(data.task).has_classes else None)
    val = data.subset(val_idx, "val", path=split_file(fp, "val"))
    test_part = (data if test is None else test).subset(test_idx, "test", path=split_file(fp, "test"))
    return Splits(
        train=train,
        val=val,
        test=test_part,
        indices=indices,
        fingerprint=fp,
        seed=split.seed,
        test_is_fixed=test is not None,
        notes=tuple(notes),
        decisions=cleaning.decisions,
        groups=groups,
        drops=cleaning.drops,
        duplicates=_part_indices(cleaning, {"train": train, "val": val, "test": test_part}, indices, test is not None),
    )


def _part_indices(cleaning: Cleaning, parts: dict[str, Dataset], indices: dict[str, np.ndarray],
                  test_is_fixed: bool) -> dict[str, DuplicateIndex] | None:
    """Each split's duplicate index, cut from the ones the cleaning policy took (no second hashing)."""
    index = cleaning.index
    test_index = cleaning.test_index if test_is_fixed else index
    if index is None or test_index is None:
        return None
    origin = {"train": index, "val": index, "test": test_index}
    return {name: origin[name].subset(indices[name], part) for name, part in parts.items()}


def fingerprint(
    data: Dataset, test: Dataset | None, indices: dict[str, np.ndarray], seed: int, cleaning: Cleaning | None = None
) -> str:
    """sha256 over samples, labels, classes, split indices and seed, and the cleaning policy and
    what it dropped: the same data split alike but cleaned otherwise is another data set."""
    h = hashlib.sha256()
    for ds in (data, test) if test is not None else (data,):
        h.update(json.dumps([ds.x.shape, str(ds.x.dtype), list(ds.classes)]).encode())
        mapped.update_hash(h, ds.x)
        h.update(np.ascontiguousarray(ds.y, dtype=get_task(ds.task).target_dtype).data)
    for name in ("train", "val", "test"):
        h.update(name.encode())
        h.update(np.ascontiguousarray(indices[name], dtype=np.int64).data)
    h.update(str(seed).encode())
    if cleaning is not None:
        h.update(json.dumps(cleaning.policy.model_dump(mode="json"), sort_keys=True).encode())
        h.update(json.dumps([[d.action, d.rule, d.set, list(d.indices)] for d in cleaning.decisions]).encode())
    return h.hexdigest()


def split_file(fp: str, part: str) -> Path:
    """Where a memory-mapped set's ``part`` split of fingerprint ``fp`` is kept (under the data cache)."""
    from practica.data.storage.cache import cache_dir

    return cache_dir() / SPLITS_DIR / fp / f"{part}.npy"


def _divide(
    data: Dataset, idx: np.ndarray, n_first: int, split: SplitSpec, stage: str, groups: np.ndarray | None = None,
    parts: tuple[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two sorted parts of ``idx``, of ``n_first`` and the rest, stratified by label if asked,
    with every group of ``groups`` (an id per sample of ``data``) whole on one side. ``parts``
    names the two splits made (for errors), and asks for every class on both sides; without it
    the second part is left out (a ``max_samples`` subset) and may lack a class."""
    n_second = len(idx) - n_first
    if n_first < 1 or n_second < 1:
        raise DataError(
            f"{len(idx)} samples are too few {stage} (split.val {split.val}, split.test {split.test}); "
            "each split needs at least one sample. Use more data or change the split fractions."
        )
    labels = data.y[idx]
    if split.stratify:
        _check_stratifiable(data, labels, n_first, n_second, split, stage)
    names = parts or ("first", "second")
    if groups is not None and len(np.unique(groups[idx])) < len(idx):
        return _divide_groups(data, idx, n_second, split, stage, groups[idx], names)
    first, second = train_test_split(
        idx,
        train_size=n_first,
        test_size=n_second,
        random_state=split.seed,
        stratify=labels if split.stratify else None,
    )
    if parts is not None and split.stratify and _lacks_a_class(data.y[first], data.y[second]):
        # scikit-learn rounds a rare class's share of the smaller part down to none; the
        # division below gives every class one sample or more on each side.
        return _divide_groups(data, idx, n_second, split, stage, np.arange(len(idx)), names)
    return np.sort(first), np.sort(second)


def _lacks_a_class(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether a class of two samples or more has none on one side."""
    k = int(max(first.max(initial=0), second.max(initial=0))) + 1
    a, b = np.bincount(first, minlength=k), np.bincount(second, minlength=k)
    return bool((((a == 0) | (b == 0)) & (a + b >= 2)).any())


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
    listed = "; ".join(map(str, data.skipped[:_LISTED_SKIPS]))
    more = f"; and {len(data.skipped) - _LISTED_SKIPS} more" if len(data.skipped) > _LISTED_SKIPS else ""
    return [f"skipped {len(data.skipped)} {data.skipped_noun}(s) of the {what} that could not be used: {listed}{more}"]


def _divide_groups(
    data: Dataset, idx: np.ndarray, n_second: int, split: SplitSpec, stage: str, groups: np.ndarray,
    parts: tuple[str, str],
) -> tuple[np.ndarray, np.ndarray]:
    """``_divide`` with groups: see the module's docstring for how."""
    rng = np.random.default_rng(split.seed)
    k = len(data.classes) if split.stratify else 1  # unstratified: one pseudo-class, only sizes are targets
    labels = data.y[idx] if split.stratify else np.zeros(len(idx), dtype=np.int64)
    counts = np.bincount(labels, minlength=k)
    target = np.empty((2, k), dtype=np.int64)  # per side (0: first, 1: second), per class
    target[1] = _stratified_counts(counts, n_second, every_class=split.stratify)
    target[0] = counts - target[1]
    have = np.zeros((2, k), dtype=np.int64)
    side = np.zeros(len(idx), dtype=np.int64)
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    by_group = np.argsort(inverse, kind="stable")  # members of group g: by_group[start[g]:start[g] + sizes[g]]
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    multi = np.flatnonzero(sizes > 1)
    order = multi[rng.permutation(len(multi))]
    order = order[np.argsort(-sizes[order], kind="stable")]
    for g in order:
        members = by_group[start[g]:start[g] + sizes[g]]
        dist = np.bincount(labels[members], minlength=k)
        over = np.maximum(have + dist - target, 0).sum(axis=1)  # how far each side would overfill
        if over[0] != over[1]:
            s = int(np.argmin(over))
        else:  # the side whose target for the group's main class is least met, as a share of it
            c = int(np.argmax(dist))
            need = (target[:, c] - have[:, c]) / np.maximum(target[:, c], 1)
            s = int(need[1] > need[0])
        side[members] = s
        have[s] += dist
    alone = sizes[inverse] == 1
    for c in range(k):
        singles = np.flatnonzero(alone & (labels == c))
        take = int(np.clip(target[1, c] - have[1, c], 0, len(singles)))
        side[rng.permutation(singles)[:take]] = 1
    second = side == 1
    if second.all() or not second.any():
        raise DataError(
            f"the {len(idx)} samples {stage} form only {len(sizes)} group(s) of duplicates (the largest "
            f"{sizes.max()}), too few to split (split.val {split.val}, split.test {split.test}). Lower "
            "dataset.clean.near_distance, set it to null to group exact duplicates only, or drop the duplicates "
            "(dataset.clean.duplicates: drop_near)."
        )
    got = np.stack([np.bincount(labels[~second], minlength=k), np.bincount(labels[second], minlength=k)])
    _check_division(data, labels, inverse, sizes, counts, got, target, split, stage, parts)
    return np.sort(idx[~second]), np.sort(idx[second])


def _check_division(
    data: Dataset, labels: np.ndarray, inverse: np.ndarray, sizes: np.ndarray, counts: np.ndarray, got: np.ndarray,
    target: np.ndarray, split: SplitSpec, stage: str, parts: tuple[str, str],
) -> None:
    """Raise when the groups left a class absent from a side, or off its targets by more than the tolerance."""
    absent = (counts >= 2) & (got == 0).any(axis=0) if split.stratify else np.zeros(len(counts), dtype=bool)
    off = np.abs(got[1] - target[1])
    beyond = off > np.maximum(1, np.floor(GROUP_TOLERANCE * counts))
    if not (absent | beyond).any():
        return
    c = int(np.flatnonzero(absent)[0]) if absent.any() else int(np.argmax(np.where(beyond, off / counts, -1)))
    what = f"class '{data.classes[c]}'" if split.stratify else "the data"
    in_class = np.bincount(inverse[labels == c], minlength=len(sizes))  # each group's samples of c
    g = int(np.argmax(np.where(sizes > 1, in_class, -1)))
    group = (f" One duplicate group holds {in_class[g]:,} of its {counts[c]:,} samples (a group of {sizes[g]:,}, "
             f"{sizes[g] / len(labels):.0%} of the {len(labels):,} samples here), and a group stays whole on one side."
             if sizes[g] > 1 else "")
    raise DataError(
        f"the {len(labels):,} samples {stage} cannot be divided at the declared fractions (split.val {split.val}, "
        f"split.test {split.test}) with every duplicate group on one side: {what} would have {got[0, c]:,} in "
        f"{parts[0]} and {got[1, c]:,} in {parts[1]}, where {target[0, c]:,} and {target[1, c]:,} were due."
        f"{group} Groups are never broken up, since they keep copies of one image out of two splits. Make them "
        "smaller: lower dataset.clean.near_distance, set it to null to group exact duplicates only, or drop the "
        "near copies instead of grouping them (dataset.clean.duplicates: drop_near)."
    )


def _stratified_counts(counts: np.ndarray, n: int, every_class: bool = False) -> np.ndarray:
    """How many of each class a part of ``n`` samples gets: its share, largest remainders rounded up.
    ``every_class``: a class of two samples or more gets at least one in the part and one outside it,
    taken from (or given to) the class its rounding favoured most (``n`` must leave room for that)."""
    total = counts.sum()
    exact = counts * n / total
    out = np.floor(exact).astype(np.int64)
    rest = n - out.sum()
    if rest > 0:
        out[np.argsort(-(exact - out), kind="stable")[:rest]] += 1
    out = np.minimum(out, counts)
    if every_class:
        for c in np.flatnonzero((counts >= 2) & (out == 0)):
            donors = np.flatnonzero(out >= 2)
            out[donors[np.argmax((out - exact)[donors])]] -= 1
            out[c] += 1
        for c in np.flatnonzero((counts >= 2) & (out == counts)):
            takers = np.flatnonzero((out < counts - 1) & (np.arange(len(counts)) != c))
            out[takers[np.argmin((out - exact)[takers])]] += 1
            out[c] -= 1
    return out


def _imbalance_note(train: Dataset, dropped: np.ndarray | None) -> list[str]:
    """A warning when training classes are imbalanced; ``dropped`` (the labels of the samples
    cleaning dropped) says when cleaning took from the rare class."""
    if not get_task(train.task).has_classes:
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
    lost = int((dropped == small).sum()) if dropped is not None else 0
    if lost:
        note += (f" Cleaning dropped {lost} sample(s) of '{train.classes[small]}' before the split (see the "
                 "cleaning lines); with them the imbalance would be smaller.")
    return [note]
