"""Hygiene for texts: exact duplicates after normalisation, near duplicates by MinHash (a word
changed), label conflicts, leaks into a fixed test set, the split keeping groups together, and the
length and character checks; on small texts made in each test."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from practica.config.schema import DatasetSpec
from practica.data import prepare_data
from practica.data.duplicates.checks import check_data
from practica.data.duplicates.index import DuplicateIndex
from practica.data.duplicates.text_checks import main_script, oddities
from practica.data.duplicates.text_hashes import content_hashes, near_pairs, normalise, shingles
from practica.data.records import Dataset

WORDS = ["good", "bad", "plot", "film", "actor", "scene", "story", "music", "long", "short", "fun", "dull", "cast",
         "ending", "pace", "score", "light", "dark", "slow", "quick", "warm", "cold", "funny", "sad", "bright", "grim",
         "clever", "silly"]


def made_up(n: int, seed: int = 0, words: int = 20) -> list[str]:
    """``n`` different texts of ``words`` words each, unrelated to one another."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, words)) + f" item{seed}x{k}" for k in range(n)]


def texts(items: list[str], labels: list[int] | None = None, name: str = "t", classes=("neg", "pos")) -> Dataset:
    x = np.empty(len(items), dtype=object)
    x[:] = items
    y = np.array(labels if labels is not None else [k % 2 for k in range(len(items))], dtype=np.int64)
    return Dataset(name=name, x=x, y=y, classes=classes, sources=tuple(f"{name}.csv:row {k + 2}"
                                                                       for k in range(len(items))))


def one_word_changed(text: str, at: int = 5) -> str:
    words = text.split()
    words[at] = "zebra"
    return " ".join(words)


def test_normalise_makes_case_space_and_unicode_forms_one():
    assert normalise("  Ｃafe\u0301\n\t OK ") == normalise("café ok") == "café ok"
    a, b, c = content_hashes(["Hello  World", "hello world\n", "hello, world"])
    assert a == b != c


def test_near_pairs_find_a_word_changed_and_nothing_unrelated():
    base = made_up(50)
    items = [*base, one_word_changed(base[3]), one_word_changed(base[40], at=12)]
    pairs, sim = near_pairs(shingles(items))
    assert sorted(map(tuple, pairs.tolist())) == [(3, 50), (40, 51)]
    assert (sim >= 0.7).all() and (sim < 1).all()


def test_near_pairs_across_two_sets():
    a, b = made_up(30), made_up(20, seed=1)
    b[7] = one_word_changed(a[11])
    pairs, _ = near_pairs(shingles(a), shingles(b))
    assert pairs.tolist() == [[11, 7]]


def test_short_texts_and_texts_without_words_hash_without_error():
    sets = shingles(["", "!!!", "one", "two words"])
    assert all(len(s) == 1 for s in sets)


def test_index_of_texts_exact_groups_near_and_subset():
    base = made_up(40)
    items = [*base, base[2].upper(), one_word_changed(base[9])]
    index = DuplicateIndex.of(texts(items), near_distance=6)
    assert [g.tolist() for g in index.exact_groups()] == [[2, 40]]
    assert index.near().pairs.tolist() == [[9, 41]]
    part = index.subset(np.array([9, 41]), texts([items[9], items[41]]))
    assert part.near().pairs.tolist() == [[0, 1]]
    exact_only = DuplicateIndex.of(texts(items), near_distance=None)
    assert not exact_only.looks_near


def test_checks_find_duplicates_within_and_across_parts_and_label_conflicts():
    train_items = made_up(60)
    test_items = made_up(30, seed=2)
    train_items[50] = "  " + train_items[1].upper()  # an exact copy within train (after normalising)
    train_items[51] = one_word_changed(train_items[2])  # a near copy within train
    test_items[0] = train_items[3]  # an exact leak
    test_items[1] = one_word_changed(train_items[4], at=8)  # a near leak
    train_labels = [k % 2 for k in range(60)]
    train_labels[50] = 1 - train_labels[1]  # the exact copy carries the other label
    test_labels = [1] + [k % 2 for k in range(1, 30)]  # the leaks keep their labels
    report = check_data({"train": texts(train_items, train_labels, "train"),
                         "test": texts(test_items, test_labels, "test")})
    found = {c.name: c for c in report.checks}
    assert [(p.a_index, p.b_index) for p in found["exact_within"].pairs] == [(1, 50)]
    assert [(p.a_index, p.b_index) for p in found["near_within"].pairs] == [(2, 51)]
    assert [(p.a_index, p.b_index) for p in found["exact_across"].pairs] == [(3, 0)]
    assert [(p.a_index, p.b_index) for p in found["near_across"].pairs] == [(4, 1)]
    assert [(p.a_index, p.b_index) for p in found["label_conflicts"].pairs] == [(1, 50)]
    assert report.is_text and report.min_similarity == 0.7


def test_a_near_pair_with_two_labels_is_a_conflict_only_when_nearly_identical():
    base = made_up(20, words=60)
    loose = one_word_changed(one_word_changed(base[0], 10), 30)  # Jaccard about 0.87: under the 0.9 bar
    close = one_word_changed(base[1], 20)  # about 0.93
    labels = [0] * 20 + [1, 1]
    report = check_data({"data": texts([*base, loose, close], labels)})
    near = {(p.a_index, p.b_index): p.similarity for p in report.check("near_within").pairs}
    assert set(near) == {(0, 20), (1, 21)} and near[(0, 20)] < 0.9 <= near[(1, 21)]
    assert [(p.a_index, p.b_index) for p in report.check("label_conflicts").pairs] == [(1, 21)]


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def test_cleaning_drops_near_copies_and_the_split_keeps_groups_together(tmp_path):
    base = made_up(200)
    rows = [(t, ("neg", "pos")[k % 2]) for k, t in enumerate(base)]
    copies = [(one_word_changed(base[k]), rows[k][1]) for k in range(0, 40, 2)]  # 20 near copies
    path = write_csv(tmp_path / "r.csv", rows + copies)
    kept = prepare_data(DatasetSpec(source="text", path=path, clean={"duplicates": "keep"}))
    side = {}
    for part in ("train", "val", "test"):
        for i in kept.indices[part]:
            side[int(i)] = part
    for k in range(20):  # each copy on the side of its original
        assert side[200 + k] == side[2 * k]
    assert any("word-bigram Jaccard ≥ 0.7" in n for n in kept.notes)
    dropped = prepare_data(DatasetSpec(source="text", path=path, clean={"duplicates": "drop_near", "max_drop": 0.2}))
    near = [d for d in dropped.decisions if d.rule == "near_duplicate"]
    assert sum(len(d.samples) for d in near) == 20
    assert "word-bigram Jaccard" in near[0].reason and "pHash" not in near[0].reason


def test_a_text_of_the_fixed_test_set_leaking_into_training_is_dropped(tmp_path):
    for part, items in (("train", made_up(40)), ("test", made_up(10, seed=3))):
        for k, t in enumerate(items):
            (tmp_path / "set" / part / ("neg", "pos")[k % 2]).mkdir(parents=True, exist_ok=True)
            (tmp_path / "set" / part / ("neg", "pos")[k % 2] / f"{k:03d}.txt").write_text(t)
    leak = tmp_path / "set" / "train" / "neg" / "leak.txt"
    leak.write_text(one_word_changed((tmp_path / "set" / "test" / "pos" / "003.txt").read_text()))
    splits = prepare_data(DatasetSpec(source="text", path=tmp_path / "set", clean={"max_drop": 0.1}))
    leaks = [d for d in splits.decisions if d.rule == "test_leak"]
    assert len(leaks) == 1 and leaks[0].samples[0].endswith("leak.txt") and leaks[0].action == "drop"
    assert "word-bigram Jaccard" in leaks[0].reason


def test_length_check_names_the_longest_and_shortest_and_warns_on_length_by_class():
    items = ["short one", "a somewhat longer text here", "x " * 50, "mid length text of words"]
    report = check_data({"data": texts(items, [0, 0, 1, 1])})
    length = report.check("text_length")
    stats = length.counts["data"]
    assert stats["characters"]["max"] == 100 and stats["words"]["min"] == 2
    assert stats["longest"] == "t.csv:row 4" and stats["shortest"] == "t.csv:row 2"
    biased = check_data({"data": texts(["a b", "c d", "word " * 30, "more " * 40], [0, 0, 1, 1])})
    assert biased.check("text_length").status == "warning" and "length" in biased.check("text_length").summary


@pytest.mark.parametrize(("text", "kinds"), [
    ("plain words, nothing odd.", []),
    ("a bell\x07 in the text", ["control"]),
    ("a byte that failed: \ufffd here", ["replacement"]),
    ("cafÃ© au lait", ["mojibake"]),
    ("itâ€™s quoted", ["mojibake"]),
    ("12345 67890 !!!! ####", ["non_letters"]),
])
def test_character_oddities(text, kinds):
    assert oddities(text) == kinds


def test_character_check_lists_odd_texts_and_another_script():
    items = [*made_up(8), "cafÃ© crÃ¨me au lait", "Это совсем другой язык и другой алфавит"]
    check = check_data({"data": texts(items)}).check("text_characters")
    assert check.status == "warning"
    assert check.counts["data"]["mojibake"] == 1 and check.counts["data"]["script"] == 1
    assert any("t.csv:row 10: mojibake" in f for f in check.findings)
    assert any("cyrillic" in f for f in check.findings)
    assert main_script("Hello") == "LATIN"


def test_the_inspect_page_shows_text_pairs(tmp_path):
    from practica.reporting.hygiene import write_page

    base = made_up(20)
    parts = {"data": texts([*base, one_word_changed(base[4])])}
    report = check_data(parts)
    page = write_page(report, parts, tmp_path / "h.html", title="t", source="text").read_text()
    assert "word-bigram Jaccard 0.8" in page and base[4][:30] in page and "perceptual" not in page
