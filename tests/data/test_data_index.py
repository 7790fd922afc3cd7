"""The duplicate index: hashes taken once per run, read by the cleaning policy and the hygiene report."""

from __future__ import annotations

import numpy as np
from data_images import pixels

from practica.config.schema import DatasetSpec
from practica.data import make_splits
from practica.data.duplicates import hygiene
from practica.data.duplicates.checks import check_data
from practica.data.duplicates.index import DuplicateIndex
from practica.data.records import Dataset, sample_name

SIZE = (16, 16)


def images(labels: list[int], extra: list[np.ndarray] = (), seed: int = 0, sources: bool = True) -> Dataset:
    xs = [pixels(seed * 10_000 + i, SIZE) for i in range(len(labels) - len(extra))] + list(extra)
    names = tuple(f"img{i}.png" for i in range(len(labels))) if sources else ()
    return Dataset("imgs", np.stack(xs), np.array(labels, dtype=np.int64), ("a", "b"), sources=names)


def brighter(img: np.ndarray, by: int = 3) -> np.ndarray:
    return np.clip(img.astype(np.int16) + by, 0, 255).astype(np.uint8)


def test_exact_groups_and_matches_follow_the_first_copy() -> None:
    base = images([0] * 6)
    data = images([0] * 6 + [1] * 3, extra=[base.x[1], base.x[4], base.x[1]])
    found = DuplicateIndex.of(data)
    assert [g.tolist() for g in found.exact_groups()] == [[1, 6, 8], [4, 7]]
    assert found.first.tolist() == [0, 1, 2, 3, 4, 5, 1, 4, 1]
    assert found.representatives.tolist() == [0, 1, 2, 3, 4, 5]
    test = DuplicateIndex.of(images([0, 0], extra=[base.x[4], base.x[0]], seed=3))
    assert found.exact_matches(test) == [(4, 0), (0, 1)]
    assert not found.looks_near  # 16×16 is large enough, but near_distance was not given


def test_near_pairs_within_and_across_sets_are_the_hygiene_ones() -> None:
    base = images([0] * 8)
    data = images([0] * 8 + [0], extra=[brighter(base.x[2])])
    found = DuplicateIndex.of(data, near_distance=6)
    near = found.near()
    assert near.pairs.tolist() == [[2, 8]] and near.distance.tolist() == [0] and near.similarity[0] > 0.9
    expected = hygiene.near_duplicates(data.x, None, 6)
    assert near.pairs.tolist() == expected[0].tolist()
    test = DuplicateIndex.of(images([0], extra=[brighter(base.x[5], 2)], seed=9), near_distance=6)
    assert found.near_matches(test).pairs.tolist() == [[5, 0]]
    assert found.near_matches(test, rows=np.array([0, 1, 2])).pairs.tolist() == []


def test_features_and_small_images_never_look_for_near_duplicates() -> None:
    table = Dataset("t", np.zeros((4, 3), dtype=np.float32), np.zeros(4, dtype=np.int64), ("a",))
    small = Dataset("s", np.zeros((4, 8, 8, 1), dtype=np.uint8), np.zeros(4, dtype=np.int64), ("a",))
    assert not DuplicateIndex.of(table, near_distance=6).looks_near
    assert not DuplicateIndex.of(small, near_distance=6).looks_near
    assert [g.tolist() for g in DuplicateIndex.of(table).exact_groups()] == [[0, 1, 2, 3]]


def test_a_run_hashes_its_data_once_for_the_policy_and_the_report(monkeypatch) -> None:
    """The splits carry indices cut from the cleaning policy's; the report read from them is the same
    report, and hashes no sample again."""
    base = images([0] * 20 + [1] * 20)
    data = images([0] * 20 + [1] * 20 + [0, 1], extra=[base.x[3], brighter(base.x[25])])
    test = images([0, 1], extra=[brighter(base.x[11], 2)], seed=7)
    spec = DatasetSpec(source="digits", split={"val": 0.2, "test": 0.2},
                       clean={"max_drop": 1.0, "duplicates": "drop_near", "leaks": "keep"})
    splits = make_splits(data, spec, test)
    assert splits.duplicates is not None and set(splits.duplicates) == {"train", "val", "test"}
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    fresh = check_data(parts)
    calls = []
    for name in ("content_hashes", "perceptual_hashes"):
        real = getattr(hygiene, name)
        monkeypatch.setattr(hygiene, name,
                            lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    reused = check_data(parts, index=splits.duplicates)
    assert calls == []
    assert {**reused.to_dict(), "seconds": 0} == {**fresh.to_dict(), "seconds": 0}
    assert reused.check("near_across").count == fresh.check("near_across").count == 1


def test_one_name_per_sample_its_source_or_its_place() -> None:
    named, unnamed = images([0, 0]), images([0, 0], sources=False)
    assert sample_name(named, 1) == "img1.png" and sample_name(named, 1, "train") == "img1.png"
    assert sample_name(unnamed, 1) == "imgs[1]" and sample_name(unnamed, 1, "train") == "train[1]"
