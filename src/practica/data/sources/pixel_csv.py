"""The ``pixel_csv`` source: one image per row, as Kaggle ships MNIST-like sets.

::

    label,pixel1,pixel2,...,pixel784
    3,0,0,12,...

A header row; the label column found by name (``label``, ``class``, ``target`` or ``y``, or
the suite's ``label_column``), anywhere in the row; every other column a pixel value 0–255 in
row-major H×W×C order (channels last). The shape is the suite's ``image_shape`` or, for a
square image, inferred from the count (784 → 28×28×1, 3072 → 32×32×3). Labels are class
indices (named by ``label_names``) or class names.

A row that cannot be used (wrong number of values, a missing or non-numeric value, a value
outside 0–255, no label) is skipped and listed in ``skipped`` with its row number, as a
spreadsheet numbers it (the header is row 1). The numbers are parsed by numpy a few thousand
rows at a time (sign-language MNIST, 27,455 rows × 785 columns, takes about two seconds), and
the result is cached, keyed on the file's size and modification time and the options.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from practica.config.schema import SourceSpec
from practica.data.records import Dataset, Skipped
from practica.data.sources import required_path
from practica.data.sources.labels import from_text, is_number
from practica.data.storage import cache
from practica.errors import DataError

LABEL_COLUMNS = ("label", "class", "target", "y")
_CHUNK_ROWS = 2000  # rows parsed per numpy call; a chunk with a bad row is re-read row by row
_LAYOUT = "a header row (e.g. label,pixel1,…,pixel784), then one image per row"

Shape = tuple[int, int, int]


def load_pixel_csv(spec: SourceSpec) -> Dataset:
    path = required_path(spec.path, "path", spec.source)
    stat = _stat(path)
    options = {"label_column": spec.label_column, "image_shape": spec.image_shape, "label_names": spec.label_names}
    kind = "pixel_csv " + json.dumps(options, sort_keys=True, default=list)
    key = cache.cache_key(kind, path, [(path.name, stat.st_size, stat.st_mtime_ns)], None, None)
    return cache.cached(key, lambda: parse_pixel_csv(path, spec.label_column, spec.image_shape, spec.label_names))


def parse_pixel_csv(
    path: Path,
    label_column: str | None = None,
    image_shape: Shape | None = None,
    label_names: dict[int, str] | None = None,
) -> Dataset:
    """Read ``path`` whole (no cache)."""
    text = _read_text(path)
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataError(f"{path} is empty; a pixel CSV has {_LAYOUT}.")
    header = [name.strip() for name in next(csv.reader([lines[first]]))]
    label_at = _label_index(path, header, label_column)
    pixel_names = header[:label_at] + header[label_at + 1 :]
    shape = _shape(path, len(pixel_names), image_shape)
    body = lines[first + 1 :]
    if '"' in text and any('"' in line for line in body):  # quoted fields: let the csv module unquote them
        body = [",".join(fields) for fields in csv.reader(body)]

    name, commas = path.name, len(header) - 1
    skipped: list[Skipped] = []
    rows: list[int] = []  # line numbers (1-based) of the rows kept so far
    labels: list[str] = []
    pixels: list[str] = []  # each row without its label: "v1,v2,…"
    for number, line in enumerate(body, first + 2):
        if not line.strip():
            continue
        found = line.count(",")
        if found != commas:
            skipped.append(Skipped(f"{name}:row {number}",
                                   f"{found + 1} values, but the header has {len(header)} columns"))
            continue
        label, rest = _split_label(line, label_at, len(header))
        label = label.strip()
        if not label:
            skipped.append(Skipped(f"{name}:row {number}", f"no label (column {header[label_at]!r} is empty)"))
            continue
        rows.append(number)
        labels.append(label)
        pixels.append(rest)

    values, good = _parse_values(pixels, pixel_names, [f"{name}:row {n}" for n in rows], skipped)
    if not len(values):
        listed = "; ".join(map(str, skipped[:3])) or "it has a header but no rows"
        raise DataError(f"{path} has no usable row ({listed}). A pixel CSV has {_LAYOUT}.")
    rows = [rows[i] for i in good]
    _check_whole(path, values, pixel_names, rows)
    labels = [labels[i] for i in good]
    sources = tuple(f"{name}:row {n}" for n in rows)
    y, classes = from_text(labels, label_names, f"{path}: column {header[label_at]!r}", sources)
    x = values.astype(np.uint8).reshape(len(values), *shape)  # whole numbers 0–255, checked above
    skipped.sort(key=lambda s: s.position)
    return Dataset(name=path.stem, x=x, y=y, classes=classes, sources=sources, skipped=tuple(skipped))


def infer_shape(n: int) -> Shape | None:
    """A square image of ``n`` values: s×s×1 or s×s×3; None if ``n`` makes neither."""
    side = math.isqrt(n)
    if side * side == n:
        return (side, side, 1)
    side = math.isqrt(n // 3)
    if n % 3 == 0 and side * side * 3 == n:
        return (side, side, 3)
    return None


def find_label_column(header: list[str]) -> list[int]:
    """Indices of the columns named like a label column (case-insensitive)."""
    return [i for i, name in enumerate(header) if name.strip().lower() in LABEL_COLUMNS]


# --- the header ---------------------------------------------------------------------------------------


def _stat(path: Path):
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(
            f"pixel CSV {path} {state}. Check dataset.path (a relative path is read from the suite file's "
            f"folder); a pixel CSV has {_LAYOUT}."
        )
    return path.stat()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file; a pixel CSV is text with {_LAYOUT}.") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}. Check that it is readable.") from None


def _label_index(path: Path, header: list[str], label_column: str | None) -> int:
    shown = ", ".join(header[:6]) + (", …" if len(header) > 6 else "")
    if label_column is not None:
        for i, name in enumerate(header):
            if name == label_column:
                return i
        close = [i for i, name in enumerate(header) if name.lower() == label_column.lower()]
        if len(close) == 1:
            return close[0]
        raise DataError(
            f"{path} has no column {label_column!r} (label_column); its header is {shown}. Set label_column to "
            "the label column's name as the header writes it."
        )
    if all(is_number(name) for name in header):
        raise DataError(
            f"{path} has no header row (its first row is numbers: {shown}); add one, e.g. label,pixel1,…, so the "
            "label column can be told apart."
        )
    found = find_label_column(header)
    if len(found) > 1:
        raise DataError(
            f"{path} has more than one column that could be the label ({', '.join(header[i] for i in found)}); "
            "set label_column to the one that is."
        )
    if not found:
        raise DataError(
            f"{path} has no label column: none is named {', '.join(LABEL_COLUMNS)} (the header is {shown}). "
            "Rename it, or set label_column: NAME."
        )
    return found[0]


def _shape(path: Path, n: int, image_shape: Shape | None) -> Shape:
    if image_shape is not None:
        h, w, c = image_shape
        if h * w * c != n:
            raise DataError(
                f"image_shape [{h}, {w}, {c}] makes {h * w * c} values per image, but {path} has {n} pixel "
                f"columns. Give an image_shape whose product is {n}."
            )
        return (h, w, c)
    shape = infer_shape(n)
    if shape is None:
        raise DataError(
            f"{path} has {n} pixel columns, which make no square image (s×s, or s×s×3 for RGB); declare the "
            f"shape as image_shape: [H, W, C] with H×W×C = {n}."
        )
    return shape


# --- the rows -----------------------------------------------------------------------------------------


def _split_label(line: str, at: int, columns: int) -> tuple[str, str]:
    """The label's text and the rest of the row, without splitting every value."""
    if at == 0:
        label, _, rest = line.partition(",")
    elif at == columns - 1:
        rest, _, label = line.rpartition(",")
    else:
        parts = line.split(",", at + 1)
        label, rest = parts[at], ",".join(parts[:at]) + "," + parts[at + 1]
    return label, rest


def _parse_values(
    rows: list[str], names: list[str], where: list[str], skipped: list[Skipped]
) -> tuple[np.ndarray, list[int]]:
    """Every row's values as float32 (rows × values), and the indices of the rows that are all
    numbers 0–255; the others are described in ``skipped``."""
    n = len(names)
    parts, kept = [], []
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = rows[start : start + _CHUNK_ROWS]
        try:
            values = np.loadtxt(chunk, delimiter=",", dtype=np.float32, comments=None, ndmin=2)
            ok = list(range(len(chunk)))
        except ValueError:  # some row is not all numbers: find which, row by row
            values, ok = _parse_rows(chunk, names, where[start : start + _CHUNK_ROWS], skipped)
        if len(ok):
            bad = ~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1) | (values > 255).any(axis=1)
            for i in np.flatnonzero(bad):
                skipped.append(Skipped(where[start + ok[i]], _out_of_range(values[i], names)))
            parts.append(values[~bad])
            kept += [start + ok[i] for i in np.flatnonzero(~bad)]
    return (np.concatenate(parts) if parts else np.empty((0, n), np.float32)), kept


def _parse_rows(
    rows: list[str], names: list[str], where: list[str], skipped: list[Skipped]
) -> tuple[np.ndarray, list[int]]:
    values, ok = [], []
    for i, row in enumerate(rows):
        fields = row.split(",")
        try:
            values.append(np.array(fields, dtype=np.float32))
            ok.append(i)
        except ValueError:
            j = next((j for j, v in enumerate(fields) if not is_number(v)), None)
            if j is None:
                skipped.append(Skipped(where[i], "a value is not a plain number"))
                continue
            text = fields[j].strip()
            problem = "is empty (a missing value)" if not text else f"is {text!r}, not a number"
            skipped.append(Skipped(where[i], f"column {names[j]!r} {problem}"))
    return (np.stack(values) if values else np.empty((0, len(names)), np.float32)), ok


def _out_of_range(row: np.ndarray, names: list[str]) -> str:
    j = int(np.flatnonzero(~np.isfinite(row) | (row < 0) | (row > 255))[0])
    if not np.isfinite(row[j]):
        return f"column {names[j]!r} is {row[j]}, not a pixel value (0–255)"
    return f"column {names[j]!r} is {row[j]:g}, outside the pixel range 0–255"


def _check_whole(path: Path, values: np.ndarray, names: list[str], rows: list[int]) -> None:
    """Pixels are whole numbers. Fractions mean pixels scaled to 0–1 (which would all round to 0 or 1)
    or a table of measurements, not pixels: refuse either rather than train on rounded values."""
    fractional = values != np.round(values)
    if not fractional.any():
        return
    i, j = (int(v[0]) for v in np.nonzero(fractional))
    example = f"{values[i, j]:g} in column {names[j]!r}, row {rows[i]}"
    if values.max() <= 1.0:
        raise DataError(
            f"{path}: every pixel value lies between 0 and 1, with fractions (e.g. {example}): the pixels look "
            "scaled to 0–1. practica reads pixels as whole numbers 0–255; save them as round(value × 255)."
        )
    raise DataError(
        f"{path} holds values with fractions (e.g. {example}); pixel values are whole numbers 0–255. If the "
        "file is a table of measurements rather than pixels, save it as JSON records with numeric fields "
        "(source: json) or as .npy/.npz features."
    )
