"""Slices: named subsets of the validation and test samples, on which every model is scored apart.

The automatic ones: one per class; for images, the quarters of brightness (mean grey level) and of
contrast (the grey levels' standard deviation); for texts, the quarters of length (in words); for
tables, the quarters of the first ``MAX_AUTO_COLUMNS`` numeric columns and the categories of the first
``MAX_AUTO_COLUMNS`` categorical ones (in column order; a column with few distinct values is sliced per
value). The declared ones come from ``evaluation.slices`` (``config.schema.SliceSpec``): a folder level, a
pattern on the source path, a tags file, a table column.

Quarter edges are the validation split's and the test split is cut at the same values, so a slice means
the same samples' kind on both. A mistake in a declared slice (an unknown column, a level deeper than the
paths, a tags file that is missing or names no sample) raises ``ConfigError`` before any training.

>>> from practica.config.schema import DatasetSpec, EvaluationSpec
>>> from practica.data import prepare_data
>>> splits = prepare_data(DatasetSpec(source="iris"))
>>> find_slices(splits, EvaluationSpec()).names[:2]
('class: setosa', 'class: versicolor')
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

from practica.config.schema import EvaluationSpec, SliceSpec
from practica.data.records import Dataset, Splits
from practica.data.storage.mapped import chunks
from practica.errors import ConfigError
from practica.tasks import get_task

MAX_AUTO_COLUMNS = 8  # automatic table slices: this many numeric and this many categorical columns at most
MAX_CATEGORIES = 12  # slices per categorical column (its most frequent values on validation)
MAX_SLICES_PER_DECLARATION = 50  # a pattern group, folder level or tags file naming more is refused
FEW_VALUES = 6  # a numeric column with at most this many distinct values is sliced per value
_QUARTERS = ("Q1", "Q2", "Q3", "Q4")


@dataclass(frozen=True, eq=False)
class Slice:
    """One slice: its ``name`` ("class: cat", "brightness: Q1 (darkest)", "folder: outdoor"), the family it
    belongs to (``group``: "class", "brightness", a column's name, a declared slice's name), and its
    membership over the validation and test samples (boolean masks in split order)."""

    name: str
    group: str
    val: np.ndarray
    test: np.ndarray

    def mask(self, part: str) -> np.ndarray:
        return self.val if part == "val" else self.test


@dataclass(frozen=True)
class SliceSet:
    """Every slice of a run, and notes on how they were chosen (which columns, what was left out)."""

    slices: tuple[Slice, ...]
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.slices)


def find_slices(splits: Splits, spec: EvaluationSpec) -> SliceSet:
    """The automatic slices of ``splits`` and those ``spec.slices`` declares; names unique, empty ones out.

    Declared names in ``spec.human_level`` must name a slice; a mistake raises ``ConfigError``."""
    found: list[Slice] = []
    notes: list[str] = []
    found += _class_slices(splits)
    if splits.val.kind == "image":
        found += _image_slices(splits)
    elif splits.val.kind == "text":
        found += _text_slices(splits)
    else:
        found += _table_slices(splits, notes)
    for i, declared in enumerate(spec.slices):
        found += _declared(splits, declared, f"evaluation.slices[{i}]")
    unique: dict[str, Slice] = {}
    for s in found:
        if s.val.any() and s.name not in unique:
            unique[s.name] = s
    out = SliceSet(tuple(unique.values()), tuple(notes))
    if isinstance(spec.human_level, dict):
        check_names(spec.human_level, out, "evaluation.human_level")
    return out


def check_names(by_name: dict[str, float], slices: SliceSet, where: str) -> None:
    """Every key of ``by_name`` is a slice's name or ``*``; else ``ConfigError`` listing the names."""
    unknown = [k for k in by_name if k != "*" and k not in slices.names]
    if unknown:
        shown = ", ".join(repr(n) for n in slices.names[:30]) + (" ..." if len(slices.names) > 30 else "")
        raise ConfigError(f"{where} names the slice {unknown[0]!r}, which this run does not have. Its slices "
                          f"are: {shown}; or '*' for every slice.")


# --------------------------------------------------------------------------- automatic


def _class_slices(splits: Splits) -> list[Slice]:
    if not get_task(splits.val.task).has_classes:
        return []
    return [Slice(f"class: {c}", "class", splits.val.y == k, splits.test.y == k) for k, c in enumerate(splits.classes)]


def _grey_stats(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each image's mean grey level and its standard deviation, read a chunk at a time (a mapped set)."""
    means, stds = np.empty(len(data), np.float32), np.empty(len(data), np.float32)
    for start, part in chunks(data.x):
        grey = part.astype(np.float32).mean(axis=3).reshape(len(part), -1)  # N×H×W×C → N×(H·W)
        means[start:start + len(part)] = grey.mean(1)
        stds[start:start + len(part)] = grey.std(1)
    return means, stds


def _image_slices(splits: Splits) -> list[Slice]:
    val_b, val_c = _grey_stats(splits.val)
    test_b, test_c = _grey_stats(splits.test)
    labels = {"brightness": ("Q1 (darkest)", "Q2", "Q3", "Q4 (brightest)"),
              "contrast": ("Q1 (flattest)", "Q2", "Q3", "Q4 (highest)")}
    out: list[Slice] = []
    for group, val, test in (("brightness", val_b, test_b), ("contrast", val_c, test_c)):
        edges = np.quantile(val, [0.25, 0.5, 0.75])
        if len(np.unique(edges)) < 3:  # a constant statistic (e.g. blank images) cuts nothing apart
            continue
        v, t = np.digitize(val, edges), np.digitize(test, edges)
        out += [Slice(f"{group}: {label}", group, v == q, t == q) for q, label in enumerate(labels[group])]
    return out


def _words(data: Dataset) -> np.ndarray:
    return np.array([len(str(t).split()) for t in data.x], dtype=np.float32)


def _text_slices(splits: Splits) -> list[Slice]:
    """Quarters of the texts' length in words (the validation split's edges): a model may read short texts
    worse (little evidence) or long ones (cut at the tokenizer's length)."""
    val, test = _words(splits.val), _words(splits.test)
    edges = np.quantile(val, [0.25, 0.5, 0.75])
    if len(np.unique(edges)) < 3:  # texts of one length cut nothing apart
        return []
    # Lengths are whole numbers: a text as long as an edge goes to the quarter below it (right=True), so the
    # shortest quarter is never empty when a quarter of the texts share the shortest length.
    v, t = np.digitize(val, edges, right=True), np.digitize(test, edges, right=True)
    labels = ("Q1 (shortest)", "Q2", "Q3", "Q4 (longest)")
    return [Slice(f"length: {label}", "length", v == q, t == q) for q, label in enumerate(labels)]


@dataclass(frozen=True)
class _Column:
    name: str
    index: int
    categories: tuple[str, ...] | None  # None: numeric


def _columns(data: Dataset) -> list[_Column]:
    if data.table is not None:
        return [_Column(c.name, i, tuple(c.categories) if c.kind == "categorical" else None)
                for i, c in enumerate(data.table.columns)]
    names = data.feature_names or tuple(f"feature {i}" for i in range(data.x.shape[1]))
    return [_Column(n, i, None) for i, n in enumerate(names)]


def _table_slices(splits: Splits, notes: list[str]) -> list[Slice]:
    columns = _columns(splits.val)
    numeric = [c for c in columns if c.categories is None]
    categorical = [c for c in columns if c.categories is not None]
    for kind, cols in (("numeric", numeric), ("categorical", categorical)):
        if len(cols) > MAX_AUTO_COLUMNS:
            left = ", ".join(c.name for c in cols[MAX_AUTO_COLUMNS:])
            notes.append(f"Automatic slices cover the first {MAX_AUTO_COLUMNS} {kind} columns of {len(cols)}; "
                         f"not {left}. Declare one with evaluation.slices: [{{column: NAME}}].")
    out: list[Slice] = []
    for c in numeric[:MAX_AUTO_COLUMNS] + categorical[:MAX_AUTO_COLUMNS]:
        out += _column_slices(splits, c, c.name, MAX_CATEGORIES)
    return out


def _column_slices(splits: Splits, column: _Column, prefix: str, most: int) -> list[Slice]:
    val = np.asarray(splits.val.x[:, column.index], dtype=np.float64)
    test = np.asarray(splits.test.x[:, column.index], dtype=np.float64)
    missing = [Slice(f"{prefix}: missing", prefix, np.isnan(val), np.isnan(test))] if np.isnan(val).any() else []
    present = val[~np.isnan(val)]
    if not len(present):
        return missing
    values, counts = np.unique(present, return_counts=True)
    out: list[Slice] = []
    if column.categories is not None or len(values) <= FEW_VALUES:
        # categories by frequency (the rarest beyond ``most`` left out), a number's few values in order
        kept = values[np.argsort(-counts, kind="stable")][:most] if column.categories is not None else values[:most]
        for v in kept:
            out.append(Slice(f"{prefix}: {_category(column, v)}", prefix, val == v, test == v))
        return out + missing
    edges = np.unique(np.quantile(present, [0.25, 0.5, 0.75]))
    v_bin = np.where(np.isnan(val), -1, np.digitize(val, edges))
    t_bin = np.where(np.isnan(test), -1, np.digitize(test, edges))
    for b in range(len(edges) + 1):
        if b == 0:
            label = f"< {edges[0]:.4g}"
        elif b == len(edges):
            label = f"≥ {edges[-1]:.4g}"
        else:
            label = f"{edges[b - 1]:.4g} to {edges[b]:.4g}"
        out.append(Slice(f"{prefix}: {label}", prefix, v_bin == b, t_bin == b))
    return out + missing


def _category(column: _Column, code: float) -> str:
    if column.categories is not None and 0 <= code < len(column.categories) and float(code).is_integer():
        return column.categories[int(code)]
    return f"{code:g}"


# --------------------------------------------------------------------------- declared


def _declared(splits: Splits, spec: SliceSpec, where: str) -> list[Slice]:
    if spec.column is not None:
        return _declared_column(splits, spec, spec.column, where)
    keys: Callable[[Sequence[str]], list[list[str]]]
    if spec.folder_level is not None:
        level = spec.folder_level
        _check_paths(splits, where, "folder_level")
        keys = lambda sources: _folders(sources, level, where)  # noqa: E731
        prefix = spec.name or "folder"
    elif spec.pattern is not None:
        _check_paths(splits, where, "pattern")
        rx = re.compile(spec.pattern)
        keys = lambda sources: [_matched(rx, s) for s in sources]  # noqa: E731
        prefix = spec.name or f"pattern /{spec.pattern}/"
    else:
        assert spec.tags is not None  # exactly one kind, checked by SliceSpec
        tags = _read_tags(Path(spec.tags), where)
        keys = lambda sources: _tagged(tags, sources)  # noqa: E731
        prefix = spec.name or "tag"
    val, test = keys(_sources(splits.val)), keys(_sources(splits.test))
    names = sorted({k for ks in val for k in ks})
    if spec.tags is not None and not names:
        example = _sources(splits.val)[0] if len(splits.val) else "?"
        raise ConfigError(f"{where}: the tags file {spec.tags} names none of the validation samples; its source "
                          f"column must hold their paths (or their ends, e.g. cat/001.png), like {example!r}.")
    if len(names) > MAX_SLICES_PER_DECLARATION:
        raise ConfigError(f"{where} makes {len(names)} slices ({', '.join(names[:5])}, ...); at most "
                          f"{MAX_SLICES_PER_DECLARATION} are kept apart. Choose a coarser folder level or pattern.")
    return [Slice(f"{prefix}: {k}" if k else prefix, prefix,
                  np.array([k in ks for ks in val], dtype=bool), np.array([k in ks for ks in test], dtype=bool))
            for k in names]


def _sources(data: Dataset) -> list[str]:
    return list(data.sources) if len(data.sources) == len(data) else [f"{data.name}[{i}]" for i in range(len(data))]


def _check_paths(splits: Splits, where: str, kind: str) -> None:
    sources = _sources(splits.val)
    if sources and all(re.search(r"\[\d+\]$|:(row|line) \d+$", s) for s in sources[:50]):
        raise ConfigError(f"{where}: {kind} slices need samples read from files, and this data's samples have no "
                          f"path (they are named like {sources[0]!r}); use {{column: NAME}} for a table, or a "
                          "folder of images.")


def _folders(sources: Sequence[str], level: int, where: str) -> list[list[str]]:
    out = []
    for s in sources:
        parents = PurePath(s).parts[:-1]
        if len(parents) < level:
            raise ConfigError(f"{where}: folder_level {level} is deeper than the path {s!r}, which has "
                              f"{len(parents)} folder{'s' if len(parents) != 1 else ''} above the file; "
                              "1 is the folder holding the file, 2 the one above it.")
        out.append([parents[-level]])
    return out


def _matched(rx: re.Pattern[str], source: str) -> list[str]:
    m = rx.search(source)
    if m is None:
        return []
    return [m.group(1) or ""] if rx.groups else [""]


def _read_tags(path: Path, where: str) -> dict[str, list[str]]:
    if not path.is_file():
        raise ConfigError(f"{where}: the tags file {path} does not exist; give a CSV of source,tag rows "
                          "(relative to the suite file).")
    tags: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or (n == 1 and [c.strip().lower() for c in row[:2]] == ["source", "tag"]):
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise ConfigError(f"{where}: {path} row {n} is {row!r}; each row is source,tag (a sample's path "
                                  "and its tag), e.g. outdoor/cat/001.png,night.")
            tags.setdefault(_normal(row[0]), []).append(row[1].strip())
    return tags


def _normal(source: str) -> str:
    return "/".join(PurePath(source.strip()).parts)


def _tagged(tags: dict[str, list[str]], sources: Sequence[str]) -> list[list[str]]:
    """Each source's tags: those of its whole path, or of its longest end the file names (cat/001.png)."""
    return [next(_ends_in(tags, s), []) for s in sources]


def _ends_in(tags: dict[str, list[str]], source: str) -> Iterator[list[str]]:
    parts = PurePath(source).parts
    for k in range(len(parts)):
        if (found := tags.get("/".join(parts[k:]))) is not None:
            yield found


def _declared_column(splits: Splits, spec: SliceSpec, name: str, where: str) -> list[Slice]:
    if splits.val.kind in ("image", "text"):
        kind = "images" if splits.val.kind == "image" else "texts"
        raise ConfigError(f"{where}: column slices are for tables, and this data is {kind}; use folder_level, "
                          "pattern or tags.")
    columns = {c.name: c for c in _columns(splits.val)}
    if name not in columns:
        target = splits.val.table.target if splits.val.table is not None else None
        why = (f"'{name}' is the target (its classes are sliced already)" if name == target else
               f"there is no feature column '{name}'")
        raise ConfigError(f"{where}: {why}. Slices are cut on the model's feature columns: "
                          f"{', '.join(columns)}; a column the loader leaves out (dataset.columns: ignore) is "
                          "not kept, so declare it a feature or slice with a tags file.")
    return _column_slices(splits, columns[name], spec.name or name, MAX_SLICES_PER_DECLARATION)
