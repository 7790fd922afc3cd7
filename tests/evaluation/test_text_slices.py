"""Slices of a text data set: one per class and the quarters of the texts' length in words."""

from __future__ import annotations

import pytest
from text_corpus import text_splits

from practica.config.schema import EvaluationSpec, SliceSpec
from practica.errors import ConfigError
from practica.evaluation.slices import find_slices
from practica.reporting.slices import shorten_text


def test_texts_are_sliced_by_class_and_length_quarters() -> None:
    splits = text_splits()
    found = find_slices(splits, EvaluationSpec())
    assert found.names == ("class: food", "class: sport", "class: tech", "length: Q1 (shortest)", "length: Q2",
                           "length: Q3", "length: Q4 (longest)")
    quarters = [s for s in found.slices if s.group == "length"]
    assert sum(int(s.val.sum()) for s in quarters) == len(splits.val)  # every text in exactly one quarter
    shortest = max(len(splits.val.x[i].split()) for i in range(len(splits.val)) if quarters[0].val[i])
    longest = min(len(splits.val.x[i].split()) for i in range(len(splits.val)) if quarters[-1].val[i])
    assert shortest < longest


def test_column_slices_are_refused_on_texts() -> None:
    with pytest.raises(ConfigError, match="column slices are for tables, and this data is texts"):
        find_slices(text_splits(), EvaluationSpec(slices=[SliceSpec(column="words")]))


def test_a_long_text_is_shown_on_one_line_and_cut() -> None:
    assert shorten_text("a  fine\nfilm", 20) == "a fine film"
    assert shorten_text("word " * 100, 20) == "word word word word…"
