"""The cleaning policy (``dataset.clean``): duplicates, conflicting labels, test leaks, unreadable
files; every decision recorded; duplicate groups kept on one side of every split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_images import image_tree, pixels, table, write_image

from practica.config.schema import CleanSpec, DatasetSpec
from practica.data import make_splits, prepare_data
from practica.data.duplicates.clean import clean
from practica.data.records import Dataset
from practica.errors import ConfigError, DataError

SIZE = (16, 16)


def brighter(img: np.ndarray, by: int = 3) -> np.ndarray:
    """A near duplicate: every pixel a little brighter (another content hash, the same pHash)."""
    return np.clip(img.astype(np.int16) + by, 0, 255).astype(np.uint8)


def images(labels: list[int], extra: list[tuple[np.ndarray, int]] = (), seed: int = 0, classes: int = 2) -> Dataset:
    """Random 16×16 RGB images labelled ``labels``, then the ``extra`` (image, label) pairs."""
    xs = [pixels(seed * 10_000 + i, SIZE) for i in range(len(labels))] + [img for img, _ in extra]
    ys = list(labels) + [lab for _, lab in extra]
    return Dataset("imgs", np.stack(xs), np.array(ys, dtype=np.int64), tuple(f"c{k}" for k in range(classes)),
                   sources=tuple(f"img{i}.png" for i in range(len(ys))))


def spec(**clean_options: object) -> DatasetSpec:
    """These tiny sets lose more than the default max_drop (5%) to the copies they are made with:
    the tests of what each rule drops allow any share; the guard has its own tests."""
    return DatasetSpec(source="digits", split={"val": 0.2, "test": 0.2}, clean={"max_drop": 1.0, **clean_options})


def decisions(splits, action: str, rule: str):
    return [d for d in splits.decisions if d.action == action and d.rule == rule]


def in_splits(splits) -> list[int]:
    return sorted(np.concatenate([splits.indices[k] for k in ("train", "val", "test")]).tolist())


def test_defaults_say_what_a_practitioner_expects() -> None:
    c = CleanSpec()
    assert (c.duplicates, c.conflicting_labels, c.near_distance, c.leaks) == ("drop_exact", "drop", 6, "drop")
    with pytest.raises(ValueError, match="drop_near needs clean.near_distance"):
        CleanSpec(duplicates="drop_near", near_distance=None)


def test_a_suite_file_takes_the_clean_block() -> None:
    from tests_support import tiny_suite_dict

    from practica.config.load import suite_from_dict

    d = tiny_suite_dict()
    d["dataset"]["clean"] = {"duplicates": "keep", "leaks": "keep", "near_distance": 3}
    assert suite_from_dict(d).dataset.clean == CleanSpec(duplicates="keep", leaks="keep", near_distance=3)
    d["dataset"]["clean"] = {"duplicate": "keep"}
    with pytest.raises(ConfigError, match="duplicate"):
        suite_from_dict(d)


def test_exact_duplicates_with_one_label_keep_their_first_copy_by_default() -> None:
    base = images([0] * 20 + [1] * 20)
    data = images([0] * 20 + [1] * 20, extra=[(base.x[3], 0), (base.x[3], 0), (base.x[30], 1)])
    splits = make_splits(data, spec(), None)
    assert in_splits(splits) == list(range(40))  # the three later copies are gone
    (d3, d30) = decisions(splits, "drop", "exact_duplicate")
    assert d3.samples == ("img40.png", "img41.png") and d3.indices == (40, 41)
    assert "identical to img3.png (kept), also labelled 'c0'" in d3.reason
    assert d30.samples == ("img42.png",)
    (line,) = splits.drops  # one line per rule, for the console and the top of the report
    assert line.startswith("cleaning (duplicates: drop_exact) dropped 3 of 43 samples (7.0%), exact duplicate(s); "
                           "hardest hit 'c0' 2 of 22 (9.1%): img40.png, img41.png, img42.png")
    assert not any("dropped" in n for n in splits.notes)  # said once, not again among the notes


def test_duplicates_keep_keeps_every_copy_on_one_side_of_the_split() -> None:
    base = images([0] * 20 + [1] * 20)
    data = images([0] * 20 + [1] * 20, extra=[(base.x[3], 0), (base.x[3], 0)])
    splits = make_splits(data, spec(duplicates="keep"), None)
    assert in_splits(splits) == list(range(42))
    (kept,) = decisions(splits, "keep", "exact_duplicate")
    assert kept.samples == ("img3.png", "img40.png", "img41.png")
    side = [k for k in ("train", "val", "test") if set(splits.indices[k]) & {3, 40, 41}]
    assert len(side) == 1 and {3, 40, 41} <= set(splits.indices[side[0]])


def test_conflicting_labels_drop_every_copy_or_keep_one_per_label() -> None:
    base = images([0] * 20 + [1] * 20)
    data = images([0] * 20 + [1] * 20, extra=[(base.x[5], 1), (base.x[5], 0)])  # 5 and 41: c0, 40: c1
    dropped = make_splits(data, spec(), None)
    (d,) = decisions(dropped, "drop", "conflicting_labels")
    assert d.indices == (5, 40, 41) and "labelled 'c0' (2), 'c1' (1)" in d.reason
    assert not {5, 40, 41} & set(in_splits(dropped))

    kept = make_splits(data, spec(conflicting_labels="keep"), None)
    (k,) = decisions(kept, "keep", "conflicting_labels")
    assert k.indices == (5, 40, 41)
    (dup,) = decisions(kept, "drop", "exact_duplicate")  # 41 repeats 5 with its label c0
    assert dup.indices == (41,)
    assert {5, 40} <= set(in_splits(kept)) and 41 not in in_splits(kept)
    sides = {k for k in ("train", "val", "test") if set(kept.indices[k]) & {5, 40}}
    assert len(sides) == 1  # identical inputs never sit on two sides


def test_drop_near_drops_near_copies_of_kept_images_and_records_the_distance() -> None:
    base = images([0] * 20 + [1] * 20)
    near = [(brighter(base.x[2]), 0), (brighter(base.x[2], 5), 0), (brighter(base.x[25]), 1)]
    data = images([0] * 20 + [1] * 20, extra=near)
    assert in_splits(make_splits(data, spec(), None)) == list(range(43))  # the default keeps near copies...
    splits = make_splits(data, spec(duplicates="drop_near"), None)
    assert in_splits(splits) == list(range(40))
    d2, d25 = decisions(splits, "drop", "near_duplicate")
    assert d2.samples == ("img40.png", "img41.png") and d25.samples == ("img42.png",)
    assert "near duplicates of img2.png (kept; pHash distance ≤" in d2.reason


def test_near_copies_with_another_label_are_conflicts_under_drop_near() -> None:
    base = images([0] * 20 + [1] * 20)
    data = images([0] * 20 + [1] * 20, extra=[(brighter(base.x[4]), 1)])
    splits = make_splits(data, spec(duplicates="drop_near"), None)
    (d,) = decisions(splits, "drop", "conflicting_labels")
    assert d.indices == (4, 40) and "labelled 'c0' and 'c1'" in d.reason


def test_near_duplicate_groups_never_straddle_splits_and_the_split_stays_stratified() -> None:
    labels = [0] * 60 + [1] * 30 + [2] * 30
    base = images(labels, classes=3)
    rng = np.random.default_rng(1)
    extra = []
    for i in rng.choice(len(labels), 25, replace=False):  # 25 images get 1-3 near copies each
        extra += [(brighter(base.x[i], 2 * k + 1), labels[i]) for k in range(rng.integers(1, 4))]
    data = images(labels, extra=extra, classes=3)
    for seed in range(4):
        s = DatasetSpec(source="digits", split={"val": 0.15, "test": 0.2, "seed": seed})
        splits = make_splits(data, s, None)
        assert splits.groups is not None and len(np.unique(splits.groups)) == len(labels)
        side = {}
        for k in ("train", "val", "test"):
            for g in splits.groups[splits.indices[k]]:
                assert side.setdefault(int(g), k) == k, f"group {g} in {side[g]} and {k} (seed {seed})"
        assert in_splits(splits) == list(range(len(data)))
        n = len(data)
        assert abs(len(splits.test) - 0.2 * n) <= 3 and abs(len(splits.val) - 0.15 * n) <= 3
        for part in (splits.train, splits.test):
            shares = np.bincount(part.y, minlength=3) / len(part)
            np.testing.assert_allclose(shares, [0.5, 0.25, 0.25], atol=0.07)
    again = make_splits(data, DatasetSpec(source="digits", split={"val": 0.15, "test": 0.2, "seed": 3}), None)
    assert all(np.array_equal(again.indices[k], splits.indices[k]) for k in splits.indices)


def test_without_duplicates_the_split_is_the_plain_stratified_one() -> None:
    from sklearn.model_selection import train_test_split

    data = table([60, 40])
    splits = make_splits(data, DatasetSpec(source="digits", split={"val": 0.1, "test": 0.2}), None)
    _, test = train_test_split(np.arange(100), test_size=20, train_size=80, random_state=0, stratify=data.y)
    np.testing.assert_array_equal(splits.indices["test"], np.sort(test))
    assert splits.decisions == ()


def test_train_samples_near_a_fixed_test_sample_are_leaks_dropped_by_default() -> None:
    data = images([0] * 20 + [1] * 20)
    leaked = [(data.x[7], 0), (brighter(data.x[33]), 1), (pixels(99_999, SIZE), 0)]  # identical, near, unrelated
    test = images([], extra=leaked, seed=5)
    test = Dataset("test", test.x, test.y, test.classes, sources=("t0.png", "t1.png", "t2.png"))
    splits = make_splits(data, spec(), test)
    assert splits.test_is_fixed and len(splits.test) == 3
    ident, near = decisions(splits, "drop", "test_leak")
    assert ident.samples == ("img7.png",) and "identical to test sample t0.png" in ident.reason
    assert near.samples == ("img33.png",) and "near duplicate of test sample t1.png (pHash distance" in near.reason
    assert not {7, 33} & (set(splits.indices["train"]) | set(splits.indices["val"]))
    assert len(splits.train) + len(splits.val) == 38

    kept = make_splits(data, spec(leaks="keep"), test)
    assert len(kept.train) + len(kept.val) == 40
    assert [d.samples for d in decisions(kept, "keep", "test_leak")] == [("img7.png",), ("img33.png",)]
    assert "the test score may be optimistic" in decisions(kept, "keep", "test_leak")[0].reason


def test_the_fingerprint_changes_with_the_cleaning() -> None:
    base = images([0] * 20 + [1] * 20)
    data = images([0] * 20 + [1] * 20, extra=[(base.x[3], 0), (brighter(base.x[9]), 0)])
    prints = {name: make_splits(data, spec(**opts), None).fingerprint for name, opts in {
        "default": {}, "keep": {"duplicates": "keep"}, "near": {"duplicates": "drop_near"},
        "far": {"near_distance": 0}}.items()}
    assert len(set(prints.values())) == 4
    assert make_splits(data, spec(), None).fingerprint == prints["default"]
    clean_data = images([0] * 20 + [1] * 20)  # nothing to clean: the policy still names the data set
    kept = make_splits(clean_data, spec(leaks="keep"), None)
    assert make_splits(clean_data, spec(), None).fingerprint != kept.fingerprint


def test_feature_tables_are_grouped_by_exact_rows_only() -> None:
    data = table([30, 30])
    x = data.x.copy()
    x[1] = x[0]  # an exact duplicate
    x[2] = x[0] + 1e-3  # close, but features have no perceptual hash
    rows = Dataset("table", x, data.y, data.classes)
    cleaning = clean(rows, CleanSpec(), None)
    assert 1 not in cleaning.keep and 2 in cleaning.keep
    (d,) = cleaning.decisions
    assert d.rule == "exact_duplicate" and d.samples == ("table[1]",)


def test_unreadable_files_are_skipped_and_recorded_with_duplicates_dropped(tmp_path: Path) -> None:
    written = image_tree(tmp_path, {"a": 10, "b": 10}, size=SIZE)
    write_image(tmp_path / "a" / "copy.png", written["a"][0])
    (tmp_path / "b" / "broken.png").write_text("nope")
    splits = prepare_data(DatasetSpec(source="folder", path=tmp_path, split={"val": 0.2, "test": 0.2},
                                      clean={"max_drop": 0.1}))  # the copy is 1 of 11 'a'
    (skip,) = [d for d in splits.decisions if d.action == "skip"]
    assert skip.rule == "unreadable" and skip.samples == (str(tmp_path / "b" / "broken.png"),) and skip.indices == ()
    (dup,) = decisions(splits, "drop", "exact_duplicate")
    assert dup.samples == (str(tmp_path / "a" / "copy.png"),) and str(tmp_path / "a" / "000.png") in dup.reason
    assert len(splits.train) + len(splits.val) + len(splits.test) == 20
    assert any("broken.png" in n for n in splits.notes)


def test_imbalanced_classes_are_warned_about() -> None:
    splits = make_splits(table([200, 20]), DatasetSpec(source="digits"), None)
    (note,) = [n for n in splits.notes if "imbalanced" in n]
    assert "'c0' has 140 training samples, 'c1' 14 (10.0:1" in note and "class_weight: balanced" in note
    assert not any("imbalanced" in n for n in make_splits(table([50, 30]), DatasetSpec(source="digits"), None).notes)


def test_large_sets_read_their_cleaning_from_the_cache(monkeypatch) -> None:
    from practica.data.duplicates import clean as clean_mod

    monkeypatch.setattr(clean_mod, "CACHE_FROM", 0)
    base = images([0] * 20 + [1] * 20)
    data = images([0] * 20 + [1] * 20, extra=[(base.x[3], 0), (brighter(base.x[9]), 0), (base.x[4], 1)])
    first = clean_mod.cached_clean(data, CleanSpec(max_drop=1.0), None)
    monkeypatch.setattr(clean_mod, "clean", lambda *a: pytest.fail("cleaned again"))
    again = clean_mod.cached_clean(data, CleanSpec(max_drop=1.0), None)
    assert again.decisions == first.decisions and again.notes == first.notes and again.drops == first.drops
    assert np.array_equal(again.keep, first.keep) and np.array_equal(again.groups, first.groups)
    with pytest.raises(pytest.fail.Exception, match="cleaned again"):  # another policy: another entry
        clean_mod.cached_clean(data, CleanSpec(duplicates="keep", max_drop=1.0), None)


# ------------------------------------------------------------ no silent loss (max_drop)


def _leaky(n_leaked: int) -> tuple[Dataset, Dataset]:
    """40 images (20 'c0', 20 'c1') and a fixed test set holding copies of the first ``n_leaked`` 'c0'."""
    data = images([0] * 20 + [1] * 20)
    test = images([], extra=[(data.x[i], 0) for i in range(n_leaked)] + [(pixels(99_999, SIZE), 1)], seed=5)
    return data, test


def test_a_drop_beyond_max_drop_stops_with_the_counts_per_rule_and_class_and_the_settings() -> None:
    data, test = _leaky(10)
    with pytest.raises(DataError) as err:
        make_splits(data, DatasetSpec(source="digits", split={"val": 0.2}), test)
    message = str(err.value)
    assert "cleaning would drop 10 of the 40 samples (25.0%), more than dataset.clean.max_drop (0.05)" in message
    assert "10 by leaks: drop (sample(s) identical or near to a fixed test sample)" in message
    assert "'c0' 10 of 20 (50.0%)" in message
    assert "leaks: drop → leaks: keep, or near_distance: null" in message and "dataset.clean.max_drop: 0.5" in message

    allowed = make_splits(data, DatasetSpec(source="digits", split={"val": 0.2}, clean={"max_drop": 0.5}), test)
    assert len(allowed.train) + len(allowed.val) == 30
    assert allowed.drops == ("cleaning (leaks: drop) dropped 10 of 40 samples (25.0%), sample(s) identical or near "
                             "to a fixed test sample; hardest hit 'c0' 10 of 20 (50.0%): img0.png, img1.png, img2.png "
                             "and 7 more",)


def test_one_class_losing_more_than_max_drop_stops_the_run_even_when_the_set_loses_less() -> None:
    data = table([500, 10])
    x = data.x.copy()
    x[501] = x[500]  # one of the ten 'c1' repeats another: 0.2% of the set, 10% of 'c1'
    rows = Dataset("table", x, data.y, data.classes)
    with pytest.raises(DataError, match=r"Classes that would lose more than that share: 'c1' 1 of 10 \(10.0%\)"):
        clean(rows, CleanSpec(), None)
    assert clean(rows, CleanSpec(max_drop=0.1), None).drops[0].startswith(
        "cleaning (duplicates: drop_exact) dropped 1 of 510 samples (0.2%), exact duplicate(s); "
        "hardest hit 'c1' 1 of 10")


def test_drops_within_max_drop_are_listed_one_line_per_rule() -> None:
    data = table([100, 100])
    x = data.x.copy()
    x[1] = x[0]  # an exact copy of 'c0'
    x[150] = x[2]  # and the same row labelled 'c1': both copies go (conflicting_labels: drop)
    splits = make_splits(Dataset("table", x, data.y, data.classes), DatasetSpec(source="digits"), None)
    exact, conflicting = splits.drops  # in the order the rules met their samples
    assert exact.startswith("cleaning (duplicates: drop_exact) dropped 1 of 200 samples (0.5%)")
    assert conflicting.startswith("cleaning (conflicting_labels: drop) dropped 2 of 200 samples (1.0%)")


def test_max_drop_is_a_fraction() -> None:
    with pytest.raises(ValueError, match="max_drop"):
        CleanSpec(max_drop=1.5)
    assert CleanSpec().max_drop == 0.05


def test_the_imbalance_note_says_when_cleaning_took_from_the_rare_class() -> None:
    data = table([200, 23])
    x = data.x.copy()
    x[[221, 222]] = x[200]  # two copies of a 'c1'
    splits = make_splits(Dataset("table", x, data.y, data.classes),
                         DatasetSpec(source="digits", clean={"max_drop": 0.1}), None)
    (note,) = [n for n in splits.notes if "imbalanced" in n]
    assert "Cleaning dropped 2 sample(s) of 'c1' before the split" in note
