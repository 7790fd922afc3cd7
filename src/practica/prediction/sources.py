"""Turn the INPUT arguments of ``practica predict`` into prediction items.

An argument may be an image file, a folder of images (labelled by class-named sub-folders),
a pixel CSV, or a JSON / JSON Lines file of records. For a text model: a ``.txt`` file (one
text), a folder of them (labelled by class-named sub-folders), a CSV/TSV or JSON / JSON Lines
file with a text column, or texts given on the command line (``--text``). A missing path or an
unknown kind is fatal; anything wrong inside a file becomes an item carrying its error, so one
bad row or image is reported in the output instead of stopping the command.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from practica.bundle.inputs import (
    InputSpec,
    decode_item,
    features_to_array,
    pixels_to_array,
    text_of,
)
from practica.data.sources.decode import IMAGE_SUFFIXES
from practica.data.sources.labels import is_number
from practica.data.sources.tabular import is_missing
from practica.errors import InputError

LABEL_COLUMNS = ("label", "class", "target", "y")
ACCEPTED = (
    "an image file (" + ", ".join(sorted(IMAGE_SUFFIXES)) + "), a folder of images, a pixel CSV (.csv), "
    "or a JSON / JSON Lines file of records (.json, .jsonl)"
)
TEXT_SUFFIXES = (".txt",)
DEFAULT_TEXT_COLUMN = "text"
ACCEPTED_TEXT = ("a .txt file (one text), a folder of .txt files, a CSV/TSV (.csv, .tsv) or JSON / JSON Lines file "
                 "(.json, .jsonl) with a text column (--text-column), or --text \"...\"")


@dataclass(frozen=True)
class Item:
    """One thing to predict: an image file to decode, or an input already decoded, or why it cannot be."""

    name: str  # what the output's `input` column shows
    path: str | None = None
    array: np.ndarray | None = None
    error: str | None = None
    label: str | None = None  # the true class name, when the input says it
    text: str | None = None  # a text model's input, checked (``text_of``); the bundle's tokenizer makes it ids


@dataclass(frozen=True)
class Source:
    """One INPUT argument: how many items it holds (for the progress bar), and the items themselves."""

    path: Path
    count: int
    items: Iterator[Item]


@dataclass(frozen=True)
class TextColumns:
    """Where a text model's CSV or JSON records keep the text and, optionally, the true label."""

    text: str = DEFAULT_TEXT_COLUMN
    label: str | None = None  # None: a column named label, class, target or y, if there is one


def open_inputs(paths: Sequence[str | Path], spec: InputSpec, classes: Sequence[str], *,
                texts: Sequence[str] = (), columns: TextColumns | None = None) -> list[Source]:
    """Check every argument before anything is predicted, so a typo fails at once. ``texts``: a text model's
    inputs given as they are (``--text``); ``columns``: where its files' records keep the text and label."""
    if texts and spec.kind != "text":
        raise InputError(f"--text is for a text model; this model takes {spec.describe()}: give {ACCEPTED}")
    if not paths and not texts:
        raise InputError(f"give at least one input: {ACCEPTED_TEXT if spec.kind == 'text' else ACCEPTED}")
    sources = [Source(Path("--text"), len(texts), iter([_text_item(f"--text {i}", t, spec)
                                                        for i, t in enumerate(texts, 1)]))] if texts else []
    return sources + [_open(Path(p), spec, tuple(classes), columns or TextColumns()) for p in paths]


def _open(path: Path, spec: InputSpec, classes: tuple[str, ...], columns: TextColumns) -> Source:
    if not path.exists():
        raise InputError(f"input {path} does not exist; give {ACCEPTED_TEXT if spec.kind == 'text' else ACCEPTED}")
    suffix = path.suffix.lower()
    if spec.kind == "text":
        return _open_text(path, spec, classes, columns)
    if suffix in TEXT_SUFFIXES:
        raise InputError(f"this model takes {spec.describe()}, not texts ({path}); give {ACCEPTED}")
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        if spec.kind != "image":
            raise InputError(f"this model takes {spec.describe()}, not images; "
                             f"give a CSV or JSON file of them ({path})")
        items = _folder_items(path, classes) if path.is_dir() else [Item(str(path), path=str(path))]
        return Source(path, len(items), iter(items))
    if suffix == ".csv" and spec.table is not None:
        return Source(path, max(0, _count_lines(path) - 1), _table_items(path, spec, classes))
    if suffix == ".csv":
        return Source(path, max(0, _count_lines(path) - 1), _csv_items(path, spec, classes))
    if suffix == ".json":
        return _json_source(path, spec, classes)
    if suffix == ".jsonl":
        return Source(path, _count_lines(path), _jsonl_items(path, spec, classes))
    raise InputError(f"input {path} is not a kind practica predict reads; give {ACCEPTED}")


def resolve_label(value: Any, classes: tuple[str, ...]) -> str:
    """A true label given as a class name, or as a class index ("3" or 3); for a regressor (no classes),
    the true value, a number."""
    text = str(value).strip()
    if not classes:
        try:
            return f"{float(text):.6g}"
        except ValueError:
            raise InputError(f"true value {text!r} is not a number; this model predicts a number") from None
    if text in classes:
        return text
    if isinstance(value, (int, str)) and not isinstance(value, bool) and text.isdigit() and int(text) < len(classes):
        return classes[int(text)]
    shown = ", ".join(classes[:12]) + (", …" if len(classes) > 12 else "")
    raise InputError(f"label {text!r} is neither a class of this model ({shown}) "
                     f"nor a class index 0–{len(classes) - 1}")


# --- image files and folders -------------------------------------------------------------------------

def _folder_items(root: Path, classes: tuple[str, ...]) -> list[Item]:
    """Images under ``root`` (``_files_with_labels``: class-named sub-folders give the true label)."""
    items = [Item(path, path=path, label=label)
             for path, label in _files_with_labels(root, classes, tuple(IMAGE_SUFFIXES))]
    if not items:
        raise InputError(f"folder {root} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}), in it or below")
    return items


def _files_with_labels(root: Path, classes: tuple[str, ...],
                       suffixes: tuple[str, ...]) -> Iterator[tuple[str, str | None]]:
    """The files under ``root`` whose names end in one of ``suffixes``, recursively, in sorted order (hidden
    ones left out), each with its true label: when every immediate sub-folder is named after a class (as in
    CIFAR-10's test/airplane/...), a file's sub-folder; otherwise None."""
    subfolders = [e.name for e in _visible(root) if e.is_dir()]
    labelled = bool(subfolders) and set(subfolders) <= set(classes)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root)
        label = rel.parts[0] if labelled and rel.parts else None
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(suffixes):
                yield os.path.join(folder, name), label


def _visible(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        return [e for e in it if not e.name.startswith(".")]


# --- pixel (or feature) CSV --------------------------------------------------------------------------

def _csv_items(path: Path, spec: InputSpec, classes: tuple[str, ...]) -> Iterator[Item]:
    """Rows of a CSV with a header: an optional label column, and one column per input value."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
            reader = csv.reader(f)
            header: list[str] = next(reader, [])  # no header row reads as an empty one: both are refused
            try:
                label_col, value_cols = _csv_layout(path, header, spec)
            except InputError as err:
                yield Item(str(path), error=str(err))
                return
            for row in reader:
                if not row:
                    continue
                # Row numbers as a spreadsheet shows them: the header is row 1.
                name = f"{path}:row {reader.line_num}"
                yield _csv_item(name, row, header, label_col, value_cols, spec, classes)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        yield Item(str(path), error=f"cannot read the CSV file: {err}")


def _csv_layout(path: Path, header: list[str], spec: InputSpec) -> tuple[int | None, list[int]]:
    """The label column's index (if any) and the value columns' indices, in the model's order."""
    expected = _expected_values(spec)
    if not header:
        raise InputError(f"{path} is empty; a pixel CSV has a header row, then one image per row")
    names = [h.strip() for h in header]
    if all(is_number(n) for n in names):
        raise InputError(f"{path} has no header row; "
                         "add one (e.g. label,pixel1,…) so the label column can be told apart")
    label_cols = [i for i, n in enumerate(names) if n.lower() in LABEL_COLUMNS]
    if len(label_cols) > 1:
        raise InputError(f"{path} has more than one label column ({', '.join(names[i] for i in label_cols)}); keep one")
    label_col = label_cols[0] if label_cols else None
    value_cols = [i for i in range(len(names)) if i != label_col]
    if spec.kind == "features" and set(spec.feature_names) == {names[i] for i in value_cols}:
        value_cols = [names.index(n) for n in spec.feature_names]  # by name, whatever the column order
    if len(value_cols) != int(np.prod(spec.shape)):
        raise InputError(
            f"{path} has {len(value_cols)} value columns; this model takes {expected} per row "
            f"(plus an optional label column named {'/'.join(LABEL_COLUMNS)})"
        )
    return label_col, value_cols


def _csv_item(name: str, row: list[str], header: list[str], label_col: int | None, value_cols: list[int],
              spec: InputSpec, classes: tuple[str, ...]) -> Item:
    if len(row) != len(header):
        return Item(name, error=f"the row has {len(row)} values; the header has {len(header)} columns")
    label = None
    try:
        if label_col is not None and row[label_col].strip():
            label = resolve_label(row[label_col], classes)
        values = [row[i] for i in value_cols]
        try:
            arr = np.asarray(values, dtype=np.float64)
        except ValueError:
            bad = next(j for j, v in enumerate(values) if not is_number(v))
            raise InputError(f"non-numeric value {values[bad]!r} in column {header[value_cols[bad]]}") from None
        if spec.kind == "image":
            return Item(name, array=pixels_to_array(arr, spec), label=label)
        return Item(name, array=features_to_array(arr.tolist(), spec), label=label)
    except InputError as err:
        return Item(name, error=str(err), label=label)


def _table_items(path: Path, spec: InputSpec, classes: tuple[str, ...]) -> Iterator[Item]:
    """Rows of a CSV table with the model's columns by name (any order); its target column, if present,
    gives the true label; columns the model ignored at training are ignored again."""
    table = spec.table
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            names = [n.strip() for n in reader.fieldnames or []]
            reader.fieldnames = names
            absent = [n for n in table.names if n not in names]
            unknown = [n for n in names if n not in table.names and n != table.target and n not in table.ignored]
            if not names or absent or unknown:
                problem = "it is empty" if not names else (f"it lacks {absent}" if absent
                                                           else f"it has unknown columns {unknown}")
                yield Item(str(path), error=f"{path}: {problem}; this model takes a header row naming its columns "
                           f"{list(table.names)} (and optionally the target {table.target!r}), then one row per input")
                return
            for row in reader:
                name = f"{path}:row {reader.line_num}"
                if None in row or any(v is None for v in row.values()):
                    yield Item(name, error="the row's number of values differs from the header's columns")
                    continue
                label = None
                try:
                    target = row.get(table.target)
                    if target is not None and not is_missing(target) and classes:
                        label = resolve_label(target.strip(), classes)
                    yield Item(name, array=table.encode({n: row[n] for n in table.names}), label=label)
                except InputError as err:
                    yield Item(name, error=str(err), label=label)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        yield Item(str(path), error=f"cannot read the CSV file: {err}")


def _expected_values(spec: InputSpec) -> str:
    if spec.kind == "image":
        h, w, c = spec.shape
        return f"{h}×{w}×{c} = {h * w * c} pixel values (0–255)"
    return f"{spec.shape[0]} feature values" + (f" ({', '.join(spec.feature_names)})" if spec.feature_names else "")


def _count_lines(path: Path) -> int:
    """Non-blank lines, for the progress bar's total; reading bytes is fast next to decoding."""
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


# --- texts ------------------------------------------------------------------------------------------

def _open_text(path: Path, spec: InputSpec, classes: tuple[str, ...], columns: TextColumns) -> Source:
    suffix = path.suffix.lower()
    if path.is_dir():
        items = _text_folder_items(path, spec, classes)
        return Source(path, len(items), iter(items))
    if suffix in TEXT_SUFFIXES:
        return Source(path, 1, iter([_text_file_item(path, spec)]))
    if suffix in (".csv", ".tsv"):
        return Source(path, max(0, _count_lines(path) - 1), _text_table_items(path, spec, classes, columns))
    if suffix in (".json", ".jsonl"):
        return _text_records_source(path, spec, classes, columns)
    if suffix in IMAGE_SUFFIXES:
        raise InputError(f"this model takes {spec.describe()}, not images ({path}); give {ACCEPTED_TEXT}")
    raise InputError(f"input {path} is not a kind practica predict reads for a text model; give {ACCEPTED_TEXT}")


def _text_item(name: str, value: Any, spec: InputSpec, label: str | None = None) -> Item:
    try:
        return Item(name, text=text_of(value, spec), label=label)
    except InputError as err:
        return Item(name, error=str(err), label=label)


def _text_file_item(path: Path, spec: InputSpec, label: str | None = None) -> Item:
    """A .txt file's whole content is one text: UTF-8 (a byte-order mark dropped), else Latin-1."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        return Item(str(path), error=f"cannot read the file: {err}", label=label)
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")  # every byte is a Latin-1 character: never fails
    return _text_item(str(path), content, spec, label)


def _text_folder_items(root: Path, spec: InputSpec, classes: tuple[str, ...]) -> list[Item]:
    """``.txt`` files under ``root`` (``_files_with_labels``: class-named sub-folders give the true label)."""
    items = [_text_file_item(Path(path), spec, label)
             for path, label in _files_with_labels(root, classes, TEXT_SUFFIXES)]
    if not items:
        raise InputError(f"folder {root} holds no .txt files, in it or below; a text model reads one text per file")
    return items


def _label_column(names: Sequence[str], columns: TextColumns) -> str | None:
    if columns.label is not None:
        return columns.label if columns.label in names else None
    return next((n for n in names if n.lower() in LABEL_COLUMNS), None)


def _text_table_items(path: Path, spec: InputSpec, classes: tuple[str, ...], columns: TextColumns) -> Iterator[Item]:
    """Rows of a CSV (or TSV) with a header: the text column, and the label column if there is one."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            names = [n.strip() for n in reader.fieldnames or []]
            reader.fieldnames = names
            if columns.text not in names:
                yield Item(str(path), error=f"{path} has no column {columns.text!r} (it has {names or 'no header'}); "
                           "name the text column with --text-column")
                return
            if columns.label is not None and columns.label not in names:
                yield Item(str(path), error=f"{path} has no label column {columns.label!r} (it has {names})")
                return
            label_col = _label_column(names, columns)
            for row in reader:
                name = f"{path}:row {reader.line_num}"
                yield _labelled_text(name, row.get(columns.text), row.get(label_col) if label_col else None, spec,
                                     classes)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        yield Item(str(path), error=f"cannot read the file: {err}")


def _labelled_text(name: str, text: Any, label: Any, spec: InputSpec, classes: tuple[str, ...]) -> Item:
    resolved = None
    if label is not None and str(label).strip():
        try:
            resolved = resolve_label(label, classes)
        except InputError as err:
            return Item(name, error=str(err))
    if text is None:
        return Item(name, error="the row has no text (fewer values than the header has columns)", label=resolved)
    return _text_item(name, text, spec, resolved)


def _text_records_source(path: Path, spec: InputSpec, classes: tuple[str, ...], columns: TextColumns) -> Source:
    """A JSON list of records, or JSON Lines: each an object with the text column (and an optional "id" and
    label), or a bare string."""
    def item(name: str, record: Any) -> Item:
        if isinstance(record, str):
            return _text_item(name, record, spec)
        if not isinstance(record, dict):
            return Item(name, error=f"each record must be an object with {columns.text!r}, or a string")
        if columns.text not in record:
            return Item(name, error=f"the record has no {columns.text!r} (it has {sorted(record)}); name the text "
                        "column with --text-column")
        label_col = _label_column(list(record), columns)
        name = str(record["id"]) if "id" in record else name
        return _labelled_text(name, record[columns.text], record.get(label_col) if label_col else None, spec,
                              classes)

    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            return Source(path, 1, iter([Item(str(path), error=f"not a readable JSON file: {err}")]))
        records = data if isinstance(data, list) else [data]
        return Source(path, len(records), (item(f"{path}:record {i}", r) for i, r in enumerate(records, 1)))

    def lines() -> Iterator[Item]:
        try:
            with open(path, encoding="utf-8-sig") as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        yield Item(f"{path}:line {number}", error=f"not a JSON record: {err}")
                        continue
                    yield item(f"{path}:line {number}", record)
        except (OSError, UnicodeDecodeError) as err:
            yield Item(str(path), error=f"cannot read the JSON Lines file: {err}")

    return Source(path, _count_lines(path), lines())


# --- JSON and JSON Lines records ---------------------------------------------------------------------

def _json_source(path: Path, spec: InputSpec, classes: tuple[str, ...]) -> Source:
    """A JSON list of records (or one record). Parsed whole, to know how many it holds."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return Source(path, 1, iter([Item(str(path), error=f"not a readable JSON file: {err}")]))
    records = data if isinstance(data, list) else [data]
    items = (_record_item(f"{path}:record {i}", record, spec, classes) for i, record in enumerate(records, 1))
    return Source(path, len(records), items)


def _jsonl_items(path: Path, spec: InputSpec, classes: tuple[str, ...]) -> Iterator[Item]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                name = f"{path}:line {number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    yield Item(name, error=f"not a JSON record: {err}")
                    continue
                yield _record_item(name, record, spec, classes)
    except (OSError, UnicodeDecodeError) as err:
        yield Item(str(path), error=f"cannot read the JSON Lines file: {err}")


def _record_item(name: str, record: Any, spec: InputSpec, classes: tuple[str, ...]) -> Item:
    """``{"image": base64} | {"pixels": ...} | {"features": ...}``, with an optional "id" and "label"."""
    if isinstance(record, dict):
        if "id" in record:
            name = str(record["id"])
        inputs = {k: v for k, v in record.items() if k not in ("id", "label")}
    else:
        inputs = record  # decode_item says what a record must be
    label = None
    try:
        if isinstance(record, dict) and record.get("label") is not None:
            label = resolve_label(record["label"], classes)
        value = decode_item(inputs, spec)
        return Item(name, text=value, label=label) if isinstance(value, str) else Item(name, array=value, label=label)
    except InputError as err:
        return Item(name, error=str(err), label=label)
