"""``make_splits``: sizes, stratification, seeds, the fingerprint and a fixed test set."""

from __future__ import annotations

import numpy as np
import pytest
from data_images import table

from practica.config.schema import DatasetSpec
from practica.data import make_splits
from practica.data.records import Dataset, Skipped
from practica.errors import DataError


def _spec(**split: object) -> DatasetSpec:
    max_samples = split.pop("max_samples", None)
    return DatasetSpec(source="digits", split=split, max_samples=max_samples)


def _shares(ds: Dataset) -> np.ndarray:
    return np.bincount(ds.y, minlength=len(ds.classes)) / len(ds)


def test_three_way_split_sizes_cover_the_data_once() -> None:
    data = table([600, 300, 100])
    splits = make_splits(data, _spec(val=0.1, test=0.2), None)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (700, 100, 200)
    every = np.concatenate([splits.indices[k] for k in ("train", "val", "test")])
    assert sorted(every.tolist()) == list(range(1000))
    for name in ("train", "val", "test"):
        idx = splits.indices[name]
        assert (np.diff(idx) > 0).all()
        assert getattr(splits, name).name == name
        np.testing.assert_array_equal(getattr(splits, name).x, data.x[idx])
    assert not splits.test_is_fixed and splits.classes == data.classes


def test_stratified_splits_keep_class_shares() -> None:
    data = table([600, 300, 100])
    splits = make_splits(data, _spec(), None)
    for part in (splits.train, splits.val, splits.test):
        np.testing.assert_allclose(_shares(part), [0.6, 0.3, 0.1], atol=0.01)


def test_same_seed_same_split_other_seed_other_split() -> None:
    data = table([50, 50])
    a, b = make_splits(data, _spec(seed=3), None), make_splits(data, _spec(seed=3), None)
    c = make_splits(data, _spec(seed=4), None)
    assert all(np.array_equal(a.indices[k], b.indices[k]) for k in a.indices)
    assert a.fingerprint == b.fingerprint and a.seed == 3
    assert not np.array_equal(a.indices["test"], c.indices["test"])
    assert a.fingerprint != c.fingerprint


def test_fingerprint_changes_with_one_sample_value() -> None:
    data = table([50, 50])
    x = data.x.copy()
    x[7, 0] += 1
    changed = Dataset(name=data.name, x=x, y=data.y, classes=data.classes)
    assert make_splits(data, _spec(), None).fingerprint != make_splits(changed, _spec(), None).fingerprint
    assert len(make_splits(data, _spec(), None).fingerprint) == 64


def test_max_samples_keeps_a_stratified_subset_first() -> None:
    data = table([800, 200])
    splits = make_splits(data, _spec(max_samples=100), None)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 100
    assert sum(splits.train.y == 1) / len(splits.train) == pytest.approx(0.2, abs=0.02)
    assert any("100 of 1000" in note for note in splits.notes)


def test_a_class_too_small_to_stratify_is_named() -> None:
    with pytest.raises(DataError) as err:
        make_splits(table([40, 40, 1]), _spec(), None)
    assert "class 'c2' has only 1 sample" in str(err.value)
    assert "dataset.split.stratify: false" in str(err.value)


def test_too_small_a_split_for_every_class_is_an_error() -> None:
    with pytest.raises(DataError, match="fewer than the 5 classes"):
        make_splits(table([4, 4, 4, 4, 4]), _spec(val=0.1, test=0.1), None)


def test_without_stratification_a_single_sample_class_is_fine() -> None:
    splits = make_splits(table([40, 40, 1]), _spec(stratify=False), None)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 81


def test_a_fixed_test_set_is_kept_whole_and_the_data_splits_into_train_and_val() -> None:
    data, test = table([60, 40]), table([5, 5], seed=1)
    splits = make_splits(data, _spec(val=0.2), test)
    assert splits.test_is_fixed
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 10)
    np.testing.assert_array_equal(splits.indices["test"], np.arange(10))
    np.testing.assert_array_equal(splits.test.x, test.x)
    assert sorted(np.concatenate([splits.indices["train"], splits.indices["val"]]).tolist()) == list(range(100))
    other_test = table([5, 5], seed=2)
    assert make_splits(data, _spec(val=0.2), other_test).fingerprint != splits.fingerprint


def test_skipped_files_are_noted() -> None:
    data = table([20, 20])
    with_skips = Dataset(data.name, data.x, data.y, data.classes,
                         skipped=tuple(Skipped(f"f{i}.png", "empty file") for i in range(7)))
    (note,) = make_splits(with_skips, _spec(), None).notes
    assert note.startswith("skipped 7 file(s)") and "f0.png: empty file" in note and "and 2 more" in note


def _copies(n_groups: int, per_group: int, seed: int = 0) -> Dataset:
    """``n_groups`` random images, each with ``per_group - 1`` slightly brighter near copies; two classes."""
    xs, ys = [], []
    for g in range(n_groups):
        img = np.random.default_rng(seed * 1000 + g).integers(0, 250, (16, 16, 3), dtype=np.uint8)
        xs += [img + k for k in range(per_group)]
        ys += [g % 2] * per_group
    return Dataset("copies", np.stack(xs), np.array(ys, dtype=np.int64), ("a", "b"))


def test_with_a_fixed_test_set_near_duplicate_groups_stay_on_one_side_of_train_and_val() -> None:
    data = _copies(30, 3)
    test = _copies(4, 1, seed=7)
    splits = make_splits(data, _spec(val=0.2), test)
    train_groups = set(splits.groups[splits.indices["train"]].tolist())
    val_groups = set(splits.groups[splits.indices["val"]].tolist())
    assert len(train_groups | val_groups) == 30 and not train_groups & val_groups
    assert len(splits.val) == 18 and set(splits.val.y.tolist()) == {0, 1}


def test_data_too_grouped_to_split_is_a_clear_error() -> None:
    with pytest.raises(DataError) as err:  # class 'b' is one group of near copies: it cannot be in two splits
        make_splits(_copies(2, 10), _spec(), None)
    message = str(err.value)
    assert "class 'b' would have 10 in train and validation and 0 in test" in message
    assert "lower dataset.clean.near_distance" in message and "dataset.clean.duplicates: drop_near" in message


# ------------------------------------------------- declared fractions, with duplicate groups

FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def _with_copies(counts: list[int], copies: dict[int, list[int]], seed: int = 0) -> Dataset:
    """``table(counts)`` where each list of ``copies`` (first sample: the rest become identical to it)
    is one group of exact duplicates, of its samples' classes."""
    data = table(counts, seed=seed)
    x = data.x.copy()
    for first, rest in copies.items():
        x[rest] = x[first]
    return Dataset(data.name, x, data.y, data.classes)


def _keep_copies(seed: int = 0) -> DatasetSpec:
    """A 70/10/20 split that keeps every exact copy (with one label or several), grouped on one side."""
    return DatasetSpec(source="digits", split={"val": 0.1, "test": 0.2, "seed": seed},
                       clean={"duplicates": "keep", "conflicting_labels": "keep"})


def _assert_fractions_per_class(splits, data: Dataset) -> None:
    """Every split holds its declared share of every class, to within one sample."""
    counts = np.bincount(data.y, minlength=len(data.classes))
    for part, fraction in FRACTIONS.items():
        got = np.bincount(getattr(splits, part).y, minlength=len(data.classes))
        assert (got >= 1).all(), f"{part} lacks a class: {got}"
        due = fraction * counts
        assert (np.abs(got - due) <= 1 + (part == "train")).all(), f"{part}: {got}, due {due}"  # train: two roundings


def _assert_groups_whole(splits) -> None:
    side: dict[int, str] = {}
    for part in ("train", "val", "test"):
        for g in splits.groups[splits.indices[part]].tolist():
            assert side.setdefault(g, part) == part, f"group {g} in {side[g]} and {part}"


def test_a_group_of_40_percent_of_the_data_stays_whole_and_every_class_keeps_its_fractions() -> None:
    # 800 of 2,000 samples are one (of every class, as near duplicates chained across classes are),
    # and 250 'c0' another: the 250 fit in train, not in test, which is due 200 'c0' (before, the
    # second group went to test whole).
    y = np.repeat(np.arange(3), [1000, 500, 500])
    mixed = np.concatenate([np.flatnonzero(y == c)[:n] for c, n in ((0, 400), (1, 200), (2, 200))])
    data = _with_copies([1000, 500, 500], {int(mixed[0]): mixed[1:].tolist(), 400: list(range(401, 650))})
    for seed in range(3):
        splits = make_splits(data, _keep_copies(seed), None)
        _assert_groups_whole(splits)
        assert set(mixed.tolist()) <= set(splits.indices["train"].tolist())
        assert (len(splits.train), len(splits.val), len(splits.test)) == (1400, 200, 400)
        _assert_fractions_per_class(splits, data)


def test_many_groups_of_every_size_keep_every_class_in_every_split_at_its_fraction() -> None:
    rng = np.random.default_rng(5)
    counts = [300, 200, 100, 40]
    y = np.repeat(np.arange(4), counts)
    copies: dict[int, list[int]] = {}
    for c in range(4):  # about half of each class in groups of 2 to 30 copies of its own class
        members = rng.permutation(np.flatnonzero(y == c))[: counts[c] // 2]
        while len(members) >= 2:
            size = min(int(rng.integers(2, 31)), len(members))
            copies[int(members[0])], members = members[1:size].tolist(), members[size:]
    data = _with_copies(counts, copies)
    for seed in range(4):
        splits = make_splits(data, _keep_copies(seed), None)
        _assert_groups_whole(splits)
        assert len(splits.test) == 128 and len(splits.val) == 64
        _assert_fractions_per_class(splits, data)


def test_a_group_too_big_for_the_fractions_is_an_error_naming_it_and_the_fix() -> None:
    # 95 of the 100 'c1' are one group: test is due 20 'c1', and the group cannot be split.
    data = _with_copies([100, 100], {100: list(range(101, 195))})
    with pytest.raises(DataError) as err:
        make_splits(data, _keep_copies(), None)
    message = str(err.value)
    assert "class 'c1' would have 95 in train and validation and 5 in test, where 80 and 20 were due" in message
    assert "One duplicate group holds 95 of its 100 samples (a group of 95, 48% of the 200 samples here)" in message
    assert "dataset.clean.near_distance" in message and "dataset.clean.duplicates: drop_near" in message


def test_without_groups_a_rare_class_still_reaches_every_split() -> None:
    # 3 'c1' among 1000: its 10% of val and 20% of test round to none; each split gets one
    data = table([997, 3])
    splits = make_splits(data, _spec(val=0.1, test=0.2), None)
    assert [int((getattr(splits, p).y == 1).sum()) for p in ("train", "val", "test")] == [1, 1, 1]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (700, 100, 200)
