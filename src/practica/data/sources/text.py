"""The ``text`` source: labelled texts, from a table, JSON lines, or a folder of ``.txt`` files.

::

    text,label                          {"text": "Great film.", "label": "pos"}     reviews/pos/001.txt
    "Great film, would watch again.",pos {"text": "Dull.", "label": "neg"}           reviews/neg/002.txt

- A CSV (``.csv``) or TSV (``.tsv``, ``.tab``) file: a header row, then one text per row (a quoted
  field may span lines). Rows are numbered as records, the header being row 1.
- A JSON lines file (``.jsonl``, ``.ndjson``, or a ``.json`` holding one object per line): one object
  per line; a ``.json`` file holding a list of objects is read too (``file.json:record 3``).
- A folder with one sub-folder of ``.txt`` files per class (``reviews/pos/001.txt``); a folder holding
  ``train/`` and ``test/``, each laid out so, gives a fixed test set, as image folders do.

The text column is ``text_column`` (default: the one named text, review, sentence, content or body);
the label column is ``label_column`` (default: label, class, target, y, sentiment or category).

Encodings (``encoding``): ``auto`` (the default) reads UTF-8, with or without a byte-order mark, and
falls back to Latin-1 for a file that is not valid UTF-8 (every byte is a Latin-1 character, so it
always reads; a note names the files, since a wrong guess garbles accents rather than failing). Any
other codec name is used as given, and a file it cannot decode is an error (a ``.txt`` of a folder:
skipped and listed).

A text that is empty (whitespace only), longer than ``max_chars`` characters (default 100,000), or
without a label is skipped and listed (``Skipped``), as an unreadable image is. Why 100,000: a text
model reads at most its tokenizer's ``max_length`` tokens (≤ 4,096), so the rest of a longer text is
never seen, while it costs memory and time in tokenizer fitting and the near-duplicate search; texts
that long (a whole book, a log, a concatenated dump) are nearly always a file that went in by mistake.
100,000 characters is about 15,000 English words, ten times a long review or news article.

``Dataset.x`` is a 1-D object array of ``str``, as read (the tokenizer, fitted on the training split,
normalises); ``sources`` name ``file.csv:row 12``, ``file.jsonl:line 7`` or the ``.txt`` file's path.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from practica.config.schema import SourceSpec
from practica.data.records import Dataset, Skipped
from practica.data.sources import required_path
from practica.data.sources.folder import part_root
from practica.data.sources.labels import from_text
from practica.data.storage import cache
from practica.errors import DataError

TEXT_COLUMNS = ("text", "review", "sentence", "content", "body")
LABEL_COLUMNS = ("label", "class", "target", "y", "sentiment", "category")
DEFAULT_MAX_CHARS = 100_000
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
TEXT_SUFFIX = ".txt"
FORMAT_VERSION = 1  # of what this module reads (part of the cache key)
_LISTED = 5  # file names quoted in a note
_LAYOUTS = (f"a CSV/TSV file ({', '.join(TABLE_SUFFIXES)}) with a header row, a JSON lines file "
            f"({', '.join(JSON_SUFFIXES)}), or a folder with one sub-folder of .txt files per class")


@dataclass
class _Collected:
    """What a reader found: each text with its label and source, what it skipped, and the files read
    as Latin-1."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    latin1: list[str] = field(default_factory=list)
    classes: tuple[str, ...] | None = None  # a folder's classes (its sub-folders), in order


def load_text(spec: SourceSpec) -> Dataset:
    """The ``text`` source of a suite (``SourceSpec``), through the decoded-data cache."""
    path = required_path(spec.path, "path", spec.source)
    if not path.exists():
        raise DataError(f"text data {path} does not exist. Check dataset.path (a relative path is read from the "
                        f"suite file's folder); source: text reads {_LAYOUTS}.")
    options = {"version": FORMAT_VERSION, "text_column": spec.text_column, "label_column": spec.label_column,
               "encoding": spec.encoding or "auto", "max_chars": spec.max_chars or DEFAULT_MAX_CHARS}
    kind = "text " + json.dumps(options, sort_keys=True)
    if path.is_dir():
        root = part_root(path, spec.part)
        files = _listing(root)
        key = cache.cache_key(kind, root, files, None, None)
        return cache.cached(key, lambda: read_text_folder(root, files, spec))
    if spec.part == "test":
        raise DataError(f"part: test needs a folder holding train/ and test/, each with one sub-folder of .txt files "
                        f"per class; {path} is a file. Point the test set's path at its own file instead.")
    stat = path.stat()
    key = cache.cache_key(kind, path, [(path.name, stat.st_size, stat.st_mtime_ns)], None, None)
    return cache.cached(key, lambda: read_text_file(path, spec))


# ------------------------------------------------------------------------------------- files


def read_text_file(path: Path, spec: SourceSpec) -> Dataset:
    """A CSV/TSV or JSON lines file of texts and labels, read whole (no cache)."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES and suffix not in JSON_SUFFIXES:
        hint = " (a single .txt file holds no labels: put each class's .txt files in a sub-folder named after it)" \
            if suffix == TEXT_SUFFIX else ""
        raise DataError(f"{path} is not a file source: text reads ({path.suffix or 'no suffix'}); it reads "
                        f"{_LAYOUTS}.{hint}")
    raw = _read_bytes(path)
    text, latin1 = decode(raw, spec.encoding, path)
    found = _Collected(latin1=[path.name] if latin1 else [])
    max_chars = spec.max_chars or DEFAULT_MAX_CHARS
    if suffix in TABLE_SUFFIXES:
        rows, header = _table_rows(path, text, TABLE_SUFFIXES[suffix])
        where = "column"
    else:
        rows, header = _json_rows(path, text, found)
        where = "field"
    text_at = _pick(path, header, spec.text_column, TEXT_COLUMNS, "text_column", "text", where)
    label_at = _pick(path, header, spec.label_column, LABEL_COLUMNS, "label_column", "label", where)
    if text_at == label_at:
        raise DataError(f"{path}: the text and the label are both {where} {text_at!r}; set dataset.text_column and "
                        "dataset.label_column to two different ones.")
    for source, record in rows:
        if _WIDTH in record:
            found.skipped.append(Skipped(source, record[_WIDTH]))
        else:
            _add(found, source, record.get(text_at), record.get(label_at), max_chars, f"{where} {label_at!r}")
    return _dataset(path.stem, found, f"{path}: {where} {label_at!r}", path)


def decode(raw: bytes, encoding: str | None, path: Path | str) -> tuple[str, bool]:
    """``raw`` as text under ``encoding`` (None or auto: UTF-8, else Latin-1), and whether it fell back
    to Latin-1. A byte-order mark is dropped. An explicit codec that fails raises ``DataError``."""
    if encoding in (None, "auto"):
        try:
            return raw.decode("utf-8-sig"), False
        except UnicodeDecodeError:
            return raw.decode("latin-1"), True
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return raw.decode(codec), False
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not {encoding}: byte {raw[err.start]:#04x} at offset {err.start} cannot be "
                        f"decoded. Set dataset.encoding to the files' encoding (or auto: UTF-8, else "
                        f"Latin-1).") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}. Check that it is readable.") from None


def _table_rows(path: Path, text: str, delimiter: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Each row as ``(source, {column: value})`` and the header; a row of the wrong width is skipped later
    (its values are None)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a text may exceed csv's 128 KiB default: max_chars decides
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[str, dict[str, Any]]] = []
    number = 0
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            number += 1
            if header is None:
                header = [f.strip() for f in fields]
                continue
            source = f"{path.name}:row {number}"
            if len(fields) != len(header):
                rows.append((source, {_WIDTH: f"{len(fields)} values, but the header has {len(header)} columns"}))
            else:
                rows.append((source, dict(zip(header, fields, strict=True))))
    except csv.Error as err:
        raise DataError(f"{path} is not a readable {'TSV' if delimiter == chr(9) else 'CSV'} file ({err}); "
                        "a text table has a header row, then one text per row.") from None
    if header is None:
        raise DataError(f"{path} is empty; a text table has a header row naming the columns, then one text per row.")
    return rows, header


_WIDTH = "\0width"  # a table row of the wrong width: its reason under this key


def _json_rows(path: Path, text: str, found: _Collected) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Each JSON object as ``(source, object)`` and the fields seen (in order of first appearance)."""
    rows: list[tuple[str, dict[str, Any]]] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); give a list of objects, "
                            "or one object per line.") from None
        numbered: Iterator[tuple[str, Any]] = ((f"{path.name}:record {i}", r) for i, r in enumerate(records, 1))
    else:
        numbered = _json_lines(path, text, found)
    for source, record in numbered:
        if isinstance(record, dict):
            rows.append((source, record))
        else:
            found.skipped.append(Skipped(source, f"a JSON {type(record).__name__}, not an object"))
    if not rows:
        raise DataError(f"{path} holds no JSON object; a JSON lines file of texts holds one object per line, e.g. "
                        '{"text": "Great film.", "label": "pos"}.')
    header = list(dict.fromkeys(k for _, r in rows[:1000] for k in r))
    return rows, header


def _json_lines(path: Path, text: str, found: _Collected) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        source = f"{path.name}:line {number}"
        try:
            yield source, json.loads(line)
        except json.JSONDecodeError as err:
            found.skipped.append(Skipped(source, f"not valid JSON ({err.msg})"))


def _pick(path: Path, header: list[str], declared: str | None, defaults: tuple[str, ...], option: str, what: str,
          where: str) -> str:
    """The column (or field) named by ``declared``, else the one whose name is among ``defaults``."""
    columns = ", ".join(repr(h) for h in header) or "none"
    if declared is not None:
        if declared in header:
            return declared
        close = [h for h in header if h.lower() == declared.lower()]
        if len(close) == 1:
            return close[0]
        raise DataError(f"{path} has no {where} {declared!r} (dataset.{option}); its {where}s are {columns}. Set "
                        f"{option} to the {where} holding the {what}, as the file writes it.")
    found = [h for h in header if h.lower() in defaults]
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(f"{path} has more than one {where} that could hold the {what} ({', '.join(found)}); set "
                        f"dataset.{option} to the one to use.")
    raise DataError(f"{path} has no {what} {where}: none is named {', '.join(defaults)}. Its {where}s are "
                    f"{columns}; set dataset.{option}: NAME.")


# ------------------------------------------------------------------------------------ folder


def _listing(root: Path) -> list[cache.FileStat]:
    """``("<class>/<name>.txt", size, mtime_ns)`` for every text file under the class sub-folders."""
    layout = f"one sub-folder per class holding its .txt files: {root}/<class>/<name>.txt"
    if not root.is_dir():
        raise DataError(f"text folder {root} is not a folder. Expected {layout}.")
    classes = sorted(e for e in _visible(root) if e.is_dir())
    if not classes:
        loose = sum(1 for e in _visible(root) if e.name.lower().endswith(TEXT_SUFFIX))
        found = f" (it holds {loose} .txt files directly; move them into class sub-folders)" if loose else ""
        raise DataError(f"text folder {root} has no class sub-folders{found}. Expected {layout}.")
    files: list[cache.FileStat] = []
    for class_dir in classes:
        inside = sorted(e for e in _visible(class_dir) if e.is_file() and e.name.lower().endswith(TEXT_SUFFIX))
        if not inside:
            raise DataError(f"class folder {class_dir} has no .txt files. Expected {layout}; add texts to it or "
                            "remove it.")
        for f in inside:
            st = f.stat()
            files.append((f"{class_dir.name}/{f.name}", st.st_size, st.st_mtime_ns))
    return files


def _visible(folder: Path) -> list[Path]:
    try:
        return [folder / name for name in os.listdir(folder) if not name.startswith(".")]
    except OSError as err:
        raise DataError(f"cannot list {folder}: {err.strerror}. Check that it exists and is readable.") from None


def read_text_folder(root: Path, files: list[cache.FileStat], spec: SourceSpec) -> Dataset:
    """Every listed ``<class>/<name>.txt`` under ``root``: its text, labelled by its folder (no cache)."""
    found = _Collected(classes=tuple(dict.fromkeys(rel.split("/")[0] for rel, _, _ in files)))
    max_chars = spec.max_chars or DEFAULT_MAX_CHARS
    for rel, _, _ in files:
        path = root / rel
        source = str(path)
        try:
            text, latin1 = decode(_read_bytes(path), spec.encoding, path)
        except DataError as err:
            found.skipped.append(Skipped(source, str(err).split(". Set dataset.encoding")[0]))
            continue
        if latin1:
            found.latin1.append(rel)
        _add(found, source, text, rel.split("/")[0], max_chars, "its folder")
    return _dataset(root.name, found, f"text folder {root}", root)


# ------------------------------------------------------------------------------------ shared


def _add(found: _Collected, source: str, text: Any, label: Any, max_chars: int, label_where: str) -> None:
    """Keep one text and its label, or list why not."""
    if text is None:
        found.skipped.append(Skipped(source, "no text"))
        return
    if not isinstance(text, str):
        found.skipped.append(Skipped(source, f"the text is a {type(text).__name__}, not a string"))
        return
    if not text.strip():
        found.skipped.append(Skipped(source, "empty text" if not text else "empty text (whitespace only)"))
        return
    if len(text) > max_chars:
        found.skipped.append(Skipped(source, f"{len(text):,} characters, over max_chars ({max_chars:,})"))
        return
    if isinstance(label, bool) or (label is not None and not isinstance(label, (str, int, float))):
        found.skipped.append(Skipped(source, f"the label is {json.dumps(label)[:40]}, not a class name or number"))
        return
    name = "" if label is None else (str(int(label)) if isinstance(label, float) and label.is_integer()
                                     else str(label)).strip()
    if not name:
        found.skipped.append(Skipped(source, f"no label ({label_where} is empty)"))
        return
    found.texts.append(text)
    found.labels.append(name)
    found.sources.append(source)


def _dataset(name: str, found: _Collected, what: str, path: Path) -> Dataset:
    skipped = sorted(found.skipped, key=lambda s: (s.position, s.source))
    if not found.texts:
        listed = "; ".join(map(str, skipped[:3])) or "it holds no rows"
        raise DataError(f"{path} has no usable text ({listed}). source: text reads {_LAYOUTS}, with a non-empty "
                        "text and a label in each.")
    x = np.empty(len(found.texts), dtype=object)
    x[:] = found.texts
    if found.classes is not None:  # a folder: every class folder is a class, in sorted order
        present = dict.fromkeys(found.labels)
        lost = [c for c in found.classes if c not in present]
        if lost:
            raise DataError(f"no text of class folder {path / lost[0]} could be used (each was empty, too long or "
                            "undecodable); fix its files, or remove the folder to drop the class.")
        index = {c: i for i, c in enumerate(found.classes)}
        y, classes = np.array([index[label] for label in found.labels], dtype=np.int64), found.classes
    else:
        y, classes = from_text(found.labels, None, what, found.sources)
    notes = ()
    if found.latin1:
        shown = ", ".join(found.latin1[:_LISTED]) + (f" and {len(found.latin1) - _LISTED:,} more"
                                                     if len(found.latin1) > _LISTED else "")
        notes = (f"read as Latin-1, not being valid UTF-8 ({len(found.latin1):,} file(s)): {shown}; if accents look "
                 "wrong, set dataset.encoding to the files' encoding (e.g. cp1252)",)
    return Dataset(name=name, x=x, y=y, classes=classes, sources=tuple(found.sources), skipped=tuple(skipped),
                   notes=notes)
