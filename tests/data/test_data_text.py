"""The ``text`` source: CSV, TSV, JSON lines and folders of .txt files, made in each test; encodings,
skipped texts, wrong columns and paths, the cache, and the splits of a text set."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from practica.config.schema import DatasetSpec
from practica.data import prepare_data
from practica.data.sources.load import load_source
from practica.data.sources.text import DEFAULT_MAX_CHARS
from practica.errors import DataError

REVIEWS = [
    ("A warm, funny film with a great cast.", "pos"),
    ("Two hours I will never get back.", "neg"),
    ("Loved every minute of it.", "pos"),
    ("The plot made no sense at all.", "neg"),
]


def many(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` different made-up reviews, labelled pos and neg in turn."""
    rng = np.random.default_rng(seed)
    words = ["good", "bad", "plot", "film", "actor", "scene", "story", "music", "long", "short", "fun", "dull",
             "cast", "ending", "pace"]
    return [(" ".join(rng.choice(words, 12)) + f" number {k}", ("pos", "neg")[k % 2]) for k in range(n)]


def spec(path: Path, **options) -> DatasetSpec:
    return DatasetSpec(source="text", path=path, **options)


def write_csv(path: Path, rows, header=("text", "label"), delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_folder(root: Path, rows) -> Path:
    for k, (text, label) in enumerate(rows):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{k:03d}.txt").write_text(text, encoding="utf-8")
    return root


def test_csv_loads_texts_labels_and_row_sources(tmp_path):
    data = load_source(spec(write_csv(tmp_path / "reviews.csv", REVIEWS)))
    assert data.kind == "text" and data.x.dtype == object and data.input_shape == ()
    assert list(data.x) == [t for t, _ in REVIEWS]
    assert data.classes == ("neg", "pos") and data.y.tolist() == [1, 0, 1, 0]
    assert data.sources[0] == "reviews.csv:row 2"  # the header is row 1


def test_tsv_with_its_default_column_names_and_numeric_labels(tmp_path):
    path = write_csv(tmp_path / "r.tsv", [(t, "1" if y == "pos" else "0") for t, y in REVIEWS],
                     header=("review", "sentiment"), delimiter="\t")
    data = load_source(spec(path))
    assert data.classes == ("0", "1") and data.y.tolist() == [1, 0, 1, 0]


def test_a_quoted_text_may_hold_commas_and_line_breaks(tmp_path):
    data = load_source(spec(write_csv(tmp_path / "r.csv", [("first line,\nsecond line", "a"), ("other", "b")])))
    assert data.x[0] == "first line,\nsecond line"


def test_jsonl_with_declared_fields(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps({"body_text": t, "stars": s}) for (t, _), s in zip(REVIEWS, [5, 1, 4, 2],
                                                                                         strict=True)))
    data = load_source(spec(path, text_column="body_text", label_column="stars"))
    assert data.classes == ("1", "2", "4", "5") and data.sources[1] == "r.jsonl:line 2"


def test_a_json_list_of_objects_is_read_too(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"text": t, "label": y} for t, y in REVIEWS]))
    data = load_source(spec(path))
    assert len(data) == 4 and data.sources[0] == "r.json:record 1"


def test_folder_of_txt_files_per_class(tmp_path):
    data = load_source(spec(write_folder(tmp_path / "reviews", REVIEWS)))
    assert data.classes == ("neg", "pos") and len(data) == 4
    assert data.sources[0].endswith("neg/001.txt")


def test_folder_with_train_and_test_gives_a_fixed_test_set(tmp_path):
    write_folder(tmp_path / "set" / "train", many(20))
    write_folder(tmp_path / "set" / "test", REVIEWS + [("Brilliant, simply brilliant, a joy.", "pos")])
    splits = prepare_data(spec(tmp_path / "set", split={"val": 0.2}))
    assert splits.test_is_fixed and len(splits.test) == 5
    assert splits.test.classes == ("neg", "pos")


def test_latin1_file_falls_back_with_a_note(tmp_path):
    path = tmp_path / "fr.csv"
    path.write_bytes("text,label\nCafé crème,a\nthé,b\n".encode("latin-1"))
    data = load_source(spec(path))
    assert data.x[0] == "Café crème"
    assert data.notes and "Latin-1" in data.notes[0] and "fr.csv" in data.notes[0]


def test_latin1_file_of_a_folder_is_named_in_the_note(tmp_path):
    root = write_folder(tmp_path / "r", REVIEWS)
    (root / "pos" / "latin.txt").write_bytes("Très bien".encode("latin-1"))
    data = load_source(spec(root))
    assert "Très bien" in list(data.x) and "pos/latin.txt" in data.notes[0]


def test_an_explicit_encoding_is_used_as_given(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("text,label\nCafé,a\nbien,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"is not utf-8: byte 0xe9"):
        load_source(spec(path, encoding="utf-8"))
    assert load_source(spec(path, encoding="cp1252")).x[0] == "Café"
    with pytest.raises(ValidationError, match="encoding 'klingon'"):
        spec(path, encoding="klingon")


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\nhello there,a\nbye now,b\n")
    data = load_source(spec(path))  # the first column is "text", not "\ufefftext"
    assert list(data.x) == ["hello there", "bye now"]


def test_empty_oversized_and_unlabelled_texts_are_skipped_and_listed(tmp_path):
    rows = [*REVIEWS, ("   ", "pos"), ("x" * 60, "neg"), ("no label here", "")]
    data = load_source(spec(write_csv(tmp_path / "r.csv", rows), max_chars=50))
    assert len(data) == 4
    reasons = {s.source: s.reason for s in data.skipped}
    assert reasons == {"r.csv:row 6": "empty text (whitespace only)",
                       "r.csv:row 7": "60 characters, over max_chars (50)",
                       "r.csv:row 8": "no label (column 'label' is empty)"}
    assert DEFAULT_MAX_CHARS == 100_000


def test_skipped_texts_reach_the_splits_notes(tmp_path):
    rows = many(20) + [("", "pos")]
    splits = prepare_data(spec(write_csv(tmp_path / "r.csv", rows)))
    assert any("r.csv:row 22: empty text" in n for n in splits.notes)


def test_wrong_column_names_are_refused_listing_the_columns(tmp_path):
    path = write_csv(tmp_path / "r.csv", REVIEWS, header=("comment", "verdict"))
    with pytest.raises(DataError, match=r"no text column: none is named text, review.*'comment', 'verdict'"):
        load_source(spec(path))
    with pytest.raises(DataError, match=r"no column 'txt' \(dataset.text_column\)"):
        load_source(spec(path, text_column="txt", label_column="verdict"))
    assert len(load_source(spec(path, text_column="comment", label_column="verdict"))) == 4


def test_wrong_path_and_wrong_file_kind(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_source(spec(tmp_path / "missing.csv"))
    (tmp_path / "one.txt").write_text("hello")
    with pytest.raises(DataError, match="holds no labels"):
        load_source(spec(tmp_path / "one.txt"))
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("hello")
    with pytest.raises(DataError, match=r"no class sub-folders \(it holds 1 .txt files directly"):
        load_source(spec(tmp_path / "flat"))


def test_memmap_true_and_image_options_and_regression_are_refused(tmp_path):
    path = write_csv(tmp_path / "r.csv", REVIEWS)
    with pytest.raises(ValidationError, match="memmap: true does not apply to source 'text'"):
        spec(path, memmap=True)
    with pytest.raises(ValidationError, match="'image_size' applies to images only"):
        spec(path, image_size=(8, 8))
    with pytest.raises(ValidationError, match="regression"):
        spec(path, task="regression")
    with pytest.raises(ValidationError, match="'text_column' applies to source 'text' only"):
        DatasetSpec(source="csv", path=path, text_column="text")


def test_the_cache_gives_back_the_same_texts(tmp_path, cache_dir):
    texts = [("naïve café — “quoted” \u2028 line\nbreak", "a"), ("emoji 🎬 and tabs\t", "b"), *REVIEWS]
    path = write_csv(tmp_path / "r.csv", texts)
    first = load_source(spec(path))
    assert list(cache_dir.glob("*/x.jsonl"))  # texts are stored as JSON lines, not pickled
    again = load_source(spec(path))
    assert list(again.x) == list(first.x) and again.x.dtype == object
    assert again.y.tolist() == first.y.tolist() and again.sources == first.sources


def test_splits_of_a_text_set_are_stratified_seeded_and_fingerprinted(tmp_path):
    rng = np.random.default_rng(0)
    words = ["good", "bad", "plot", "film", "actor", "scene", "story", "music", "long", "short", "fun", "dull"]
    rows = [(" ".join(rng.choice(words, 15)) + f" {k}", "pos" if k % 3 else "neg") for k in range(90)]
    path = write_csv(tmp_path / "r.csv", rows)
    a, b = prepare_data(spec(path)), prepare_data(spec(path))
    assert a.fingerprint == b.fingerprint
    assert len(a.train) + len(a.val) + len(a.test) == 90
    assert a.train.x.dtype == object and isinstance(a.test.x[0], str)
    assert abs(a.test.class_counts()["neg"] / len(a.test) - 1 / 3) < 0.1
    other = prepare_data(spec(path, split={"seed": 1}))
    assert other.fingerprint != a.fingerprint
