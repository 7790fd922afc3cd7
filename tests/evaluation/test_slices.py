"""Slices: the automatic ones on digits and on the penguins table, the declared ones on a tiny image folder,
and a clear error for every mistake in a declaration."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from practica.config.schema import DatasetSpec, EvaluationSpec
from practica.data import prepare_data
from practica.errors import ConfigError
from practica.evaluation.slices import find_slices

PENGUINS = Path(str(resources.files("practica") / "examples" / "penguins.csv"))


@pytest.fixture(scope="module")
def digits():
    return prepare_data(DatasetSpec(source="digits", max_samples=400, split={"val": 0.25, "test": 0.25, "seed": 0}))


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    try:
        return prepare_data(DatasetSpec(source="csv", path=str(PENGUINS), target="species",
                                        columns={"island": "categorical", "sex": "categorical", "year": "numeric"}))
    finally:
        mp.undo()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """root/{cat,dog}/{day,night}_NN.png, 12 images a class; the day images bright, the night ones dark."""
    monkeypatch.setenv("PRACTICA_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "pets"
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(12):
            when = "day" if i % 2 else "night"
            level = 200 if when == "day" else 40
            pixels = np.clip(rng.normal(level, 20, size=(8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{when}_{i:02d}.png")
    return root


def folder_splits(root: Path):
    return prepare_data(DatasetSpec(source="folder", path=str(root), split={"val": 0.5, "test": 0.25, "seed": 0}))


def names(found) -> list[str]:
    return [s.name for s in found.slices]


def test_digits_gets_a_slice_per_class_and_brightness_and_contrast_quarters(digits):
    found = find_slices(digits, EvaluationSpec())
    by_group: dict[str, list] = {}
    for s in found.slices:
        by_group.setdefault(s.group, []).append(s)
    assert [s.name for s in by_group["class"]] == [f"class: {c}" for c in digits.classes]
    assert names(found)[10:14] == ["brightness: Q1 (darkest)", "brightness: Q2", "brightness: Q3",
                                   "brightness: Q4 (brightest)"]
    for group in ("class", "brightness", "contrast"):  # each family cuts both splits into disjoint parts
        for part in ("val", "test"):
            counts = np.sum([s.mask(part) for s in by_group[group]], axis=0)
            assert (counts == 1).all(), (group, part)
    quarter = len(digits.val) / 4
    assert all(abs(s.val.sum() - quarter) <= 2 for s in by_group["brightness"])


def test_table_slices_cover_categories_numeric_quarters_and_missing(penguins):
    found = find_slices(penguins, EvaluationSpec())
    got = names(found)
    assert {"island: Biscoe", "island: Dream", "island: Torgersen", "sex: male", "sex: female"} <= set(got)
    assert "year: 2007" in got  # few distinct values: one slice per value, not quarters
    bill = [n for n in got if n.startswith("bill_length_mm: ")]
    assert len(bill) == 4 and bill[0].startswith("bill_length_mm: < ") and bill[-1].startswith("bill_length_mm: ≥ ")
    missing = [s for s in found.slices if s.name == "sex: missing"]
    if missing:  # a few penguins have no recorded sex; their slice, when in validation, is listed last
        assert got.index("sex: missing") > got.index("sex: female")


def test_a_declared_column_slices_the_table_and_an_unknown_one_lists_the_columns(penguins):
    found = find_slices(penguins, EvaluationSpec(slices=[{"column": "island", "name": "where"}]))
    assert "where: Dream" in names(found)
    with pytest.raises(ConfigError) as err:
        find_slices(penguins, EvaluationSpec(slices=[{"column": "colour"}]))
    text = str(err.value)
    assert "evaluation.slices[0]" in text and "no feature column 'colour'" in text and "bill_length_mm" in text
    with pytest.raises(ConfigError, match="is the target"):
        find_slices(penguins, EvaluationSpec(slices=[{"column": "species"}]))


def test_folder_level_pattern_and_tags_slice_an_image_folder(folder, tmp_path):
    splits = folder_splits(folder)
    tags = tmp_path / "tags.csv"
    tags.write_text("source,tag\n" + "".join(f"{c}/night_{i:02d}.png,dark\n" for c in ("cat", "dog")
                                             for i in range(0, 12, 2)))
    spec = EvaluationSpec(slices=[{"folder_level": 1}, {"pattern": r"/(day|night)_", "name": "time"},
                                  {"pattern": "night"}, {"tags": str(tags)}])
    found = find_slices(splits, spec)
    got = {s.name: s for s in found.slices}
    assert {"folder: cat", "folder: dog", "time: day", "time: night", "pattern /night/", "tag: dark"} <= set(got)
    val_sources = splits.val.sources
    night = [("night_" in s) for s in val_sources]
    assert got["time: night"].val.tolist() == night
    assert got["pattern /night/"].val.tolist() == night
    assert got["tag: dark"].val.tolist() == night  # the tags name the files by their ends, cat/night_00.png
    assert got["folder: cat"].val.tolist() == [Path(s).parent.name == "cat" for s in val_sources]
    dark = got["brightness: Q1 (darkest)"].val
    assert all(night[i] for i in np.flatnonzero(dark))  # the automatic quarters find the night images too


@pytest.mark.parametrize("declared, message", [
    ({"folder_level": 60}, "folder_level 60 is deeper than the path"),
    ({"tags": "/nonexistent/tags.csv"}, "the tags file /nonexistent/tags.csv does not exist"),
    ({"column": "x"}, "column slices are for tables"),
])
def test_a_declaration_the_data_cannot_honour_is_a_config_error(folder, declared, message):
    with pytest.raises(ConfigError, match=message) as err:
        find_slices(folder_splits(folder), EvaluationSpec(slices=[declared]))
    assert "evaluation.slices[0]" in str(err.value)


def test_a_tags_file_that_names_no_sample_or_has_a_bad_row_is_refused(folder, tmp_path):
    splits = folder_splits(folder)
    stray = tmp_path / "stray.csv"
    stray.write_text("elsewhere/x.png,dark\n")
    with pytest.raises(ConfigError, match="names none of the validation samples"):
        find_slices(splits, EvaluationSpec(slices=[{"tags": str(stray)}]))
    bad = tmp_path / "bad.csv"
    bad.write_text("cat/day_01.png\n")
    with pytest.raises(ConfigError, match="row 1 is"):
        find_slices(splits, EvaluationSpec(slices=[{"tags": str(bad)}]))


def test_path_slices_need_samples_read_from_files(digits):
    with pytest.raises(ConfigError, match="samples have no path"):
        find_slices(digits, EvaluationSpec(slices=[{"pattern": "x"}]))


def test_a_human_level_for_an_unknown_slice_names_the_slices(digits):
    with pytest.raises(ConfigError, match="evaluation.human_level names the slice 'class: cat'") as err:
        find_slices(digits, EvaluationSpec(human_level={"class: cat": 0.9}))
    assert "'class: 0'" in str(err.value)
