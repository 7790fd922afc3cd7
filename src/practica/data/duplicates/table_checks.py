"""Hygiene checks that only a CSV table's column schema makes possible (``Dataset.table``).

- **Outliers**: numeric values far outside the bulk of the column, by Tukey's "far out" fences
  ``[Q1 - 3·IQR, Q3 + 3·IQR]`` measured on the first part (the one the model learns from), counted
  in every part. Quartiles ignore the outliers themselves, so a few wild values cannot hide each
  other, as they would behind a mean and standard deviation. Reported per column, never dropped:
  an outlier may be a typo or the most informative row.
- **Identifier-like columns**: a categorical column whose every value is different (a name, a
  key), one with very many categories, or a numeric column counting 1, 2, 3… with the rows (a row
  number): a model can only memorise them.

Missing values, constant columns, infinities, duplicate rows and duplicates with different
targets are the feature-table checks of ``checks.py``, which name a table's columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from practica.data.records import Dataset, sample_name

FAR_OUT = 3.0  # Tukey's fence multiplier for "far out" values (1.5 marks the merely "outside")
MIN_ROWS_ID = 20  # below this many rows, all-distinct values say nothing
MANY_CATEGORIES = 50  # a categorical column with more, and more than half as many as rows, is high-cardinality
_SHOWN_ROWS = 5


def table_checks(parts: dict[str, Dataset], first: str) -> list:
    from practica.data.duplicates.checks import Check, ColumnIssue

    base = parts[first]
    return [_outliers(parts, base, first, Check, ColumnIssue), _id_like(base, first, Check, ColumnIssue)]


def _rows(d: Dataset, name: str, rows: np.ndarray) -> tuple[str, ...]:
    return tuple(sample_name(d, int(i), name) for i in rows[:_SHOWN_ROWS])


def fences(values: np.ndarray) -> tuple[float, float] | None:
    """The far-out fences of ``values`` (NaN and infinities ignored); None when its IQR is 0 or it has none."""
    v = values[np.isfinite(values)]
    if len(v) < 4:
        return None
    q1, q3 = np.percentile(v.astype(np.float64), [25, 75])
    iqr = q3 - q1
    if iqr <= 0:
        return None
    return float(q1 - FAR_OUT * iqr), float(q3 + FAR_OUT * iqr)


def _outliers(parts: dict[str, Dataset], base: Dataset, first: str, Check, ColumnIssue) -> Any:
    schema = base.table
    issues = []
    counts: dict[str, Any] = {n: {"cells": 0} for n in parts}
    for j, col in enumerate(schema.columns):
        if col.kind != "numeric":
            continue
        bounds = fences(base.x[:, j])
        if bounds is None:
            continue
        lo, hi = bounds
        for name, d in parts.items():
            v = d.x[:, j]
            out = np.isfinite(v) & ((v < lo) | (v > hi))
            if out.any():
                counts[name]["cells"] += int(out.sum())
                rows = np.flatnonzero(out)
                shown = ", ".join(f"{x:g}" for x in v[rows[:3]])
                issues.append(ColumnIssue(name, j, int(out.sum()), f"outside [{lo:.4g}, {hi:.4g}] (values {shown})",
                                          _rows(d, name, rows), col.name))
    if not issues:
        return Check("outliers", "Outliers", "ok", f"no numeric value beyond {FAR_OUT:g}×IQR of its column's quartiles",
                     0, counts)
    cols = list(dict.fromkeys(i.name for i in issues))
    return Check("outliers", "Outliers", "warning",
                 f"{sum(i.count for i in issues):,} values beyond {FAR_OUT:g}×IQR of the quartiles (of {first}) in "
                 f"{', '.join(cols[:10])}: check them for typos or unit mix-ups (kept as they are)",
                 len(issues), counts, tuple(issues))


def _id_like(d: Dataset, name: str, Check, ColumnIssue) -> Any:
    issues = []
    for j, col in enumerate(d.table.columns):
        v = d.x[:, j]
        present = v[~np.isnan(v)]
        distinct = len(np.unique(present))
        if col.kind == "categorical":
            if len(present) >= MIN_ROWS_ID and distinct == len(present):
                detail = f"identifier-like: {distinct:,} different values in {len(present):,} rows"
            elif distinct > MANY_CATEGORIES and distinct > len(present) / 2:
                detail = f"high-cardinality: {distinct:,} categories in {len(present):,} rows"
            else:
                continue
        else:
            whole = len(present) >= MIN_ROWS_ID and np.all(present == np.round(present))
            if not (whole and distinct == len(present) and np.all(np.diff(present) == 1)):
                continue
            detail = f"a row number: counts {present[0]:g}, {present[1]:g}, … {present[-1]:g} with the rows"
        issues.append(ColumnIssue(name, j, distinct, detail, (), col.name))
    counts = {name: {"columns": len(issues)}}
    if not issues:
        return Check("id_like", "Identifier-like columns", "ok", "no column looks like an identifier", 0, counts)
    cols = ", ".join(i.name for i in issues)
    return Check("id_like", "Identifier-like columns", "warning",
                 f"{cols}: a model can only memorise {'it' if len(issues) == 1 else 'them'}; declare "
                 f"{'it' if len(issues) == 1 else 'them'} ignore in dataset.columns", len(issues), counts,
                 tuple(issues))
