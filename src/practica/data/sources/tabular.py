"""The ``csv`` source: a table of numeric and categorical columns with a target column.

::

    species,island,bill_length_mm,sex
    Adelie,Torgersen,39.1,male
    Gentoo,Biscoe,NA,

A header row, then one sample per row. The target column is the suite's ``target`` (default:
the one named target, label, class, y or species). Every other column is numeric, categorical or ignored:
as the suite's ``columns: {name: kind}`` declares, else inferred (a column whose values are
numbers, at least 90% of those present, is numeric; any other is categorical). The markers
``''``, NA, N/A, NaN, null, None and ``?`` (any case) mean a missing value.

``Dataset.x`` holds the raw columns, float32: numbers as they are, categories as codes into the
column's vocabulary (``Column.categories``, sorted), NaN for missing. The vocabulary only
encodes the strings; what a model learns from (which categories get a one-hot slot, medians,
means) is fitted on the training split by ``models/preprocess.py``.

A row that cannot be used (the wrong number of fields, a value that is not a number in a numeric
column) is skipped and listed with its row number (the header is row 1); so is a row without a
target. The result is cached like the other file sources.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
from pydantic import SerializerFunctionWrapHandler, TypeAdapter, WrapSerializer

from practica.config.schema import SourceSpec
from practica.data.records import Dataset, Skipped
from practica.data.sources import required_path
from practica.data.sources.labels import from_text, is_number
from practica.data.storage import cache
from practica.errors import DataError, InputError
from practica.tasks import get_task

# Default target names: the usual ones, and species (iris, penguins: the classic first tables).
TARGET_COLUMNS = ("target", "label", "class", "y", "species")
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
NUMERIC_SHARE = 0.9  # an undeclared column is numeric when this share of its values present are numbers
# Auto task: a whole-number target with more distinct values than this is a quantity, not classes.
MAX_AUTO_CLASSES = 30
# The code of a category the vocabulary does not hold (seen only at prediction time): never one-hot.
UNKNOWN_CODE = -1.0
_LAYOUT = "a header row naming the columns, then one sample per row"
_PIXEL_NAME = re.compile(r"^(pixel|px|p)_?\d+$")

ColumnKind = Literal["numeric", "categorical"]
Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Column:
    """One model input column: numeric, or categorical with its vocabulary (code i ↔ ``categories[i]``)."""

    name: str
    kind: ColumnKind
    categories: tuple[str, ...] = ()


def _column_json(column: Column, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
    """A column's JSON: ``categories`` only for a categorical one (as meta.json and bundles keep it)."""
    out: dict[str, Any] = handler(column)
    if column.kind != "categorical":
        out.pop("categories", None)
    return out


@dataclass(frozen=True)
class TableSchema:
    """The raw table's columns in ``Dataset.x`` order, the target's name and the columns left out."""

    columns: tuple[Annotated[Column, WrapSerializer(_column_json)], ...]
    target: str
    ignored: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def encode(self, values: Mapping[str, Any] | Sequence[Any]) -> np.ndarray:
        """One sample given as {column: value} or as a list in column order → the raw row (float32).

        A missing key or ``None`` (or a missing marker) is missing; a category the vocabulary lacks is
        ``UNKNOWN_CODE``. A wrong type, an unknown column name or a wrong count raises ``InputError``
        naming it.
        """
        if isinstance(values, Mapping):
            unknown = [k for k in values if k not in self.names]
            if unknown:
                raise InputError(f"unknown column {unknown[0]!r}; this model's columns are {list(self.names)}")
            values = [values.get(c.name) for c in self.columns]
        elif isinstance(values, str) or not isinstance(values, Sequence):
            raise InputError(f"'features' must be an object keyed by column name, "
                             f"or a list of {len(self.columns)} values")
        if len(values) != len(self.columns):
            raise InputError(f"'features' has {len(values)} values; this model takes {len(self.columns)} "
                             f"({', '.join(self.names)})")
        return np.array([_encode_value(c, v) for c, v in zip(self.columns, values, strict=True)], dtype=np.float32)


# A table's schema as JSON (the data cache's meta.json, a bundle's card): ``TABLE_SCHEMA.dump_python(schema,
# mode="json")`` and back with ``validate_python`` (``categories`` and ``ignored`` may be left out).
TABLE_SCHEMA: TypeAdapter[TableSchema] = TypeAdapter(TableSchema)


def _encode_value(column: Column, value: Any) -> float:
    if value is None or (isinstance(value, str) and is_missing(value)):
        return math.nan
    if isinstance(value, bool):
        raise InputError(f"column {column.name!r} is {value}; {_expects(column)}")
    if column.kind == "numeric":
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and is_number(value):
            return float(value)
        raise InputError(f"column {column.name!r} is {value!r}; {_expects(column)}")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        value = str(int(value))  # a category written as a number (a class 1, 2, 3)
    if not isinstance(value, str):
        raise InputError(f"column {column.name!r} is {value!r}; {_expects(column)}")
    value = value.strip()
    try:
        return float(column.categories.index(value))
    except ValueError:
        return UNKNOWN_CODE


def _expects(column: Column) -> str:
    if column.kind == "numeric":
        return "it takes a number (or null for missing)"
    shown = ", ".join(column.categories[:8]) + (", …" if len(column.categories) > 8 else "")
    return f"it takes a category as a string (one of {shown}; another counts as unknown), or null for missing"


def is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING_MARKERS


# --- loading ---------------------------------------------------------------------------------------


def load_table_csv(spec: SourceSpec) -> Dataset:
    """The ``csv`` source of a suite (``SourceSpec``), through the decoded-data cache."""
    path = required_path(spec.path, "path", spec.source)
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"CSV table {path} {state}. Check dataset.path (a relative path is read from the suite "
                        f"file's folder); a CSV table has {_LAYOUT}.")
    stat = path.stat()
    task = getattr(spec, "task", "auto")
    options = {"target": spec.target, "columns": spec.columns, "task": task}
    kind = "table_csv " + json.dumps(options, sort_keys=True, default=str)
    key = cache.cache_key(kind, path, [(path.name, stat.st_size, stat.st_mtime_ns)], None, None)
    return cache.cached(key, lambda: parse_table_csv(path, spec.target, spec.columns, task))


def parse_table_csv(
    path: Path,
    target: str | None = None,
    columns: Mapping[str, str] | None = None,
    task: str = "auto",
) -> Dataset:
    """Read ``path`` whole (no cache). ``columns`` declares kinds (numeric, categorical, ignore)."""
    header, rows, skipped = _read_rows(path)
    name = path.name
    target_at = _target_index(path, header, target)
    declared = dict(columns or {})
    unknown = [c for c in declared if c not in header]
    if unknown:
        raise DataError(f"{path} has no column {unknown[0]!r} (dataset.columns); its columns are "
                        f"{', '.join(header)}. Name the columns as the header writes them.")
    if header[target_at] in declared:
        raise DataError(f"dataset.columns declares the target column {header[target_at]!r}; the target is not an "
                        "input. Remove it from columns.")
    # rows without a target never become samples
    kept: list[tuple[int, list[str]]] = []
    for number, fields in rows:
        if is_missing(fields[target_at]):
            skipped.append(Skipped(f"{name}:row {number}", f"no target (column {header[target_at]!r} is missing)"))
        else:
            kept.append((number, fields))
    inputs = [i for i in range(len(header)) if i != target_at and declared.get(header[i]) != "ignore"]
    if not inputs:
        raise DataError(f"{path} has no input column: only the target {header[target_at]!r} is left. A CSV table "
                        "needs at least one column besides the target.")
    by_column = list(zip(*(f for _, f in kept), strict=True)) if kept else [() for _ in header]
    # Whole numeric columns parsed by numpy at once (the common case, e.g. 784 pixel columns); a
    # column with a missing marker, a text value or a NaN takes the per-value path below.
    parsed = {i: _all_numbers(by_column[i]) for i in inputs if declared.get(header[i]) in (None, "numeric")}
    kinds = {i: declared.get(header[i]) or ("numeric" if parsed[i] is not None else _infer_kind(by_column[i]))
             for i in inputs}
    bad: dict[int, Skipped] = {}  # row number → why its numeric value is not a number
    for i in inputs:
        if kinds[i] == "numeric" and parsed.get(i) is None:
            for number, fields in kept:
                text = fields[i]
                if number not in bad and not is_missing(text) and not is_number(text):
                    bad[number] = Skipped(f"{name}:row {number}",
                                          f"column {header[i]!r} is {text.strip()!r}, not a number")
    skipped += bad.values()
    rows_before = kept
    kept = [(n, f) for n, f in kept if n not in bad]
    if not kept:
        listed = "; ".join(map(str, sorted(skipped, key=lambda s: s.position)[:3])) or "it has a header but no rows"
        raise DataError(f"{path} has no usable row ({listed}). A CSV table has {_LAYOUT}, and a target in each row.")
    schema_cols, x = [], np.empty((len(kept), len(inputs)), dtype=np.float32)
    rows_left = None if not bad else np.array([n not in bad for n, _ in rows_before], dtype=bool)
    for j, i in enumerate(inputs):
        column = parsed.get(i)
        if column is not None:
            x[:, j] = column if rows_left is None else column[rows_left]
            schema_cols.append(Column(header[i], "numeric"))
            continue
        texts = [f[i].strip() for _, f in kept]
        missing = np.array([is_missing(t) for t in texts])
        if kinds[i] == "numeric":
            x[:, j] = [math.nan if m else float(t) for t, m in zip(texts, missing, strict=True)]
            schema_cols.append(Column(header[i], "numeric"))
        else:
            vocab = sorted({t for t, m in zip(texts, missing, strict=True) if not m})
            index = {v: k for k, v in enumerate(vocab)}
            x[:, j] = [math.nan if m else index[t] for t, m in zip(texts, missing, strict=True)]
            schema_cols.append(Column(header[i], "categorical", tuple(vocab)))
    sources = tuple(f"{name}:row {n}" for n, _ in kept)
    labels = [f[target_at].strip() for _, f in kept]
    what = f"{path}: column {header[target_at]!r}"
    resolved = resolve_task(labels, task, what)
    classes: tuple[str, ...]
    if resolved == "regression":
        y, classes = np.array([float(t) for t in labels], dtype=np.float32), ()
    else:
        y, classes = from_text(labels, None, what, sources)
    schema = TableSchema(tuple(schema_cols), header[target_at],
                         tuple(header[i] for i in range(len(header)) if i != target_at and i not in inputs))
    skipped.sort(key=lambda s: s.position)
    return Dataset(name=path.stem, x=x, y=y, classes=classes, sources=sources, skipped=tuple(skipped),
                   task=resolved, feature_names=schema.names, table=schema)


def resolve_task(labels: Sequence[str], task: str, what: str) -> Task:
    """``auto``: numbers with fractions, or more than ``MAX_AUTO_CLASSES`` whole numbers, are a quantity
    (regression); strings and a few whole numbers are classes."""
    numbers = all(is_number(t) for t in labels)
    if task != "auto":
        if not numbers and not get_task(task).has_classes:
            example = next(t for t in labels if not is_number(t))
            raise DataError(f"{what} holds {example!r}, not a number; {task} needs a numeric target. "
                            "Set dataset.task: classification, or choose another target.")
        return cast(Task, task)
    if not numbers:
        return "classification"
    values = np.array([float(t) for t in labels])
    if not np.all(values == np.round(values)) or len(np.unique(values)) > MAX_AUTO_CLASSES:
        return "regression"
    return "classification"


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], list[Skipped]]:
    """The header and each row's fields with its row number; rows of the wrong width are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file; a CSV table is text with {_LAYOUT}.") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}. Check that it is readable.") from None
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    skipped: list[Skipped] = []
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                continue
            number = reader.line_num
            if len(fields) != len(header):
                skipped.append(Skipped(f"{path.name}:row {number}",
                                       f"{len(fields)} values, but the header has {len(header)} columns"))
            else:
                rows.append((number, fields))
    except csv.Error as err:
        raise DataError(f"{path} is not a readable CSV file ({err}); a CSV table has {_LAYOUT}.") from None
    if header is None:
        raise DataError(f"{path} is empty; a CSV table has {_LAYOUT}.")
    if all(is_number(h) for h in header):
        raise DataError(f"{path} has no header row (its first row is numbers); add one naming the columns.")
    twice = next((h for h in header if header.count(h) > 1), None)
    if twice is not None:
        raise DataError(f"{path} has two columns named {twice!r}; name every column once.")
    return header, rows, skipped


def _target_index(path: Path, header: list[str], target: str | None) -> int:
    columns = ", ".join(header)
    if target is not None:
        if target in header:
            return header.index(target)
        close = [i for i, h in enumerate(header) if h.lower() == target.lower()]
        if len(close) == 1:
            return close[0]
        raise DataError(f"{path} has no column {target!r} (dataset.target); its columns are {columns}. Set target "
                        "to the column to predict, as the header writes it.")
    found = [i for i, h in enumerate(header) if h.lower() in TARGET_COLUMNS]
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(f"{path} has more than one column that could be the target "
                        f"({', '.join(header[i] for i in found)}); set dataset.target to the one to predict.")
    raise DataError(f"{path} has no target column: none is named {', '.join(TARGET_COLUMNS)}. Its columns are "
                    f"{columns}; set dataset.target: NAME to the column to predict.")


def _all_numbers(texts: Sequence[str]) -> np.ndarray | None:
    """The column as float32 when every value is a number (what float() reads) and none is NaN;
    None otherwise (missing markers, text, "nan"), for the per-value path to sort out."""
    try:
        values = np.array(texts, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    return None if np.isnan(values).any() else values.astype(np.float32)


def _infer_kind(texts: Sequence[str]) -> ColumnKind:
    present = [t for t in texts if not is_missing(t)]
    if not present:
        return "numeric"  # all missing: nothing says otherwise, and the hygiene report names it
    numbers = sum(is_number(t) for t in present)
    return "numeric" if numbers >= NUMERIC_SHARE * len(present) else "categorical"



def looks_like_pixels(path: Path, sample_rows: int = 50) -> bool:
    """Whether a CSV reads as a pixel CSV: many columns (at least 64) or columns named like pixels
    (pixel1, px2, p3), and every value of the first rows a whole number 0–255 (but one class name per
    row). A table has fewer columns named otherwise, or text, fractions or missing values."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return False
            named = all(_PIXEL_NAME.match(h.strip().lower()) for h in header if h.strip().lower() not in TARGET_COLUMNS)
            if len(header) < 64 and not named:
                return False
            for k, fields in enumerate(reader):
                if k >= sample_rows:
                    break
                names = 0  # a class name in the label column is fine; more text is a table
                for text in fields:
                    try:
                        v = float(text)
                    except ValueError:
                        if is_missing(text) or names:
                            return False
                        names += 1
                        continue
                    if not (math.isfinite(v) and 0 <= v <= 255 and v == int(v)):
                        return False
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return True
