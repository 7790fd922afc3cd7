"""Labels as the files give them (class indices or names) → ``y`` 0..K-1 and the class names.

Shared by the npy, pixel CSV and JSON sources. The classes are those the data holds: numeric
labels 1, 2, 5 make three classes named "1", "2", "5" (or their ``label_names``), so no class
is empty and no metric is averaged over a class that cannot occur.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from practica.errors import DataError

_WHOLE = re.compile(r"^[+-]?\d+(\.0*)?$")


def from_integers(
    values: np.ndarray, label_names: Mapping[int, str] | None, what: str, sources: Sequence[str] = ()
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer labels (class indices); named by ``label_names`` if given, else by their digits."""
    values = np.asarray(values, dtype=np.int64)
    present, y = np.unique(values, return_inverse=True)
    if len(present) and present[0] < 0:
        at = _example(values, int(present[0]), sources)
        raise DataError(
            f"{what} has label {int(present[0])}{at}; numeric labels are class indices 0 and up "
            "(or give the labels as class names)."
        )
    if label_names is None:
        return y.astype(np.int64), tuple(str(v) for v in present.tolist())
    missing = [v for v in present.tolist() if v not in label_names]
    if missing:
        count = int(np.isin(values, missing).sum())
        shown = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
        raise DataError(
            f"{what}: label_names has no name for label {shown} ({count} sample{'s' if count > 1 else ''}"
            f"{_example(values, missing[0], sources, ', e.g. ')}); it names labels "
            f"{_span(sorted(label_names))}. Add the missing labels to label_names."
        )
    return y.astype(np.int64), tuple(label_names[v] for v in present.tolist())


def from_names(
    names: Sequence[str] | np.ndarray, label_names: Mapping[int, str] | None, what: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels that are class names already; the classes are sorted by name."""
    if label_names is not None:
        example = next(iter(names), "")
        raise DataError(
            f"{what} holds class names (e.g. {example!r}), not numeric labels; label_names names numeric "
            "labels only. Remove label_names."
        )
    classes, y = np.unique(np.asarray(names, dtype=str), return_inverse=True)
    return y.astype(np.int64), tuple(classes.tolist())


def from_text(
    texts: Sequence[str], label_names: Mapping[int, str] | None, what: str, sources: Sequence[str] = ()
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels read as text (a CSV column, JSON values): numbers if every one is a whole number
    ("3", "3.0"), else names."""
    if texts and all(_WHOLE.match(t) for t in texts):
        return from_integers(np.array([int(float(t)) for t in texts], dtype=np.int64), label_names, what, sources)
    return from_names(texts, label_names, what)


def _example(values: np.ndarray, value: int, sources: Sequence[str], prefix: str = " at ") -> str:
    if not sources:
        return ""
    return f"{prefix}{sources[int(np.flatnonzero(values == value)[0])]}"


def _span(values: list[int]) -> str:
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]}" if len(values) > 1 else str(values[0])
    return ", ".join(map(str, values[:12])) + (", …" if len(values) > 12 else "")


def is_number(text: str) -> bool:
    """Whether a CSV field parses as a number (what float() accepts)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
