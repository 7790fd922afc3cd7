"""The data checks' sentences, one family at a time, on the inputs that once garbled them: a built-in
set with no files, one class, an empty split, a column issue with no example rows."""

from __future__ import annotations

import re

import numpy as np
import pytest

from practica.data.duplicates.checks import ColumnIssue, check_data
from practica.data.records import Dataset


def table(n: int, sources, classes=("a", "b"), y=None) -> Dataset:
    rng = np.random.default_rng(0)
    labels = np.asarray(y if y is not None else np.arange(n) % len(classes), dtype=np.int64)
    return Dataset(name="t", x=rng.normal(size=(n, 3)).astype(np.float32), y=labels, classes=classes,
                   sources=tuple(sources))


def summary(parts: dict[str, Dataset], check: str) -> str:
    found = check_data(parts, near_distance=None).check(check)
    assert found is not None
    return found.summary


@pytest.mark.parametrize("sources, says", [
    ([f"digits[{i}]" for i in range(20)], "nothing to read: a built-in set, not files"),
    ([f"cifar10/train[{i}]" for i in range(20)], "nothing to read: a built-in set, not files"),
    ([f"x.npy[{i}]" for i in range(20)], "every sample of the array file could be read"),
    ([f"penguins.csv:row {i + 2}" for i in range(20)], "every row could be read"),
    ([f"train/{i:03d}.png" for i in range(20)], "every file could be read"),
    ([], "no samples, so nothing to read"),
], ids=["built-in", "known-set", "array-file", "table", "files", "no-sources"])
def test_nothing_unreadable_says_what_there_was_to_read(sources: list[str], says: str) -> None:
    data = table(20, sources) if sources else Dataset("t", np.zeros((0, 3), np.float32), np.zeros(0, np.int64),
                                                      ("a", "b"))
    assert summary({"train": data}, "unreadable") == says


def test_class_balance_names_each_count() -> None:
    line = summary({"train": table(14, [f"r{i}" for i in range(14)], y=[0] * 10 + [1] * 4)}, "class_balance")
    assert "(a: 10, b: 4)" in line
    assert not re.search(r"\(\w+ \d", line)  # never '(a 10, b 4)': a name beside a number reads as one


def test_class_balance_with_one_class_or_an_empty_one() -> None:
    one = table(6, [f"r{i}" for i in range(6)], classes=("only",), y=[0] * 6)
    assert summary({"train": one}, "class_balance") == "one class only in train (only: 6)"
    empty = table(6, [f"r{i}" for i in range(6)], y=[0] * 6)
    assert summary({"train": empty}, "class_balance") == "train: no samples of b"


@pytest.mark.parametrize("issue, line", [
    (ColumnIssue("train", 0, 3, "NaN", ("t.csv:row 2", "t.csv:row 5"), "bill"),
     "train · column bill: NaN in 3 rows: t.csv:row 2, t.csv:row 5, …"),
    (ColumnIssue("train", 0, 1, "NaN", ("t.csv:row 2",), "bill"), "train · column bill: NaN in 1 row: t.csv:row 2"),
    (ColumnIssue("train", 2, 1_461, "identifier-like: 1,461 different values in 1,461 rows", (), "id"),
     "train · column id: identifier-like: 1,461 different values in 1,461 rows"),
    (ColumnIssue("train", 1, 40, "constant 0", ()), "train · column 1: constant 0"),
], ids=["rows", "one-row", "id-like", "constant"])
def test_a_column_issue_reads_as_one_clean_line(issue: ColumnIssue, line: str) -> None:
    assert issue.line == line
    assert "(e.g. )" not in issue.line and "e.g." not in issue.line
    assert not re.search(r"(in [\d,]+ rows).*\1", issue.line)  # no 'in 1,461 rows in 1,461 rows'
