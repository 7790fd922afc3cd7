"""``make_splits``: sizes, stratification, seeds, the fingerprint and a fixed test set."""

from __future__ import annotations

import numpy as np
import pytest
from data_images import table

from practica.config.schema import DatasetSpec
from practica.data import make_splits
from practica.data.records import Dataset
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
    with_skips = Dataset(data.name, data.x, data.y, data.classes, skipped=tuple(f"f{i}.png: empty file" for i in range(7)))
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
    with pytest.raises(DataError, match="form only 2 group"):
        make_splits(_copies(2, 10), _spec(), None)
