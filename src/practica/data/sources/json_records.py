"""The ``json`` source: records in a ``.json`` file (a list) or a ``.jsonl`` file (one per line).

Each record holds one sample and its label, as one of::

    {"image": "<base64 PNG or JPEG, a data: URL prefix allowed>", "label": "cat"}
    {"pixels": [[0, 12, ...], ...], "label": 3}            # H×W, H×W×C, or flat with image_shape
    {"sepal_length": 5.1, "sepal_width": 3.5, ..., "label": "setosa"}   # numeric feature fields
    {"features": [5.1, 3.5, 1.4, 0.2], "label": 0}         # one field holding the features

The suite's ``fields`` names the fields (``image``, ``pixels``, ``features``, ``label``); what
it leaves out is read from the first record (``describe_record``). A record that cannot be used
(not JSON, bad base64, not an image, another shape than the rest, no label, a non-numeric feature)
is skipped and listed as ``file.jsonl:line 12: reason`` (``file.json:record 3`` in a list).
Images are decoded by ``prepare_image``, in a process pool for large files; the result is cached.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from practica.config.schema import JsonFields, SourceSpec
from practica.data.records import Dataset, Skipped
from practica.data.sources import required_path
from practica.data.sources.decode import DECODE_VERSION, Size, map_chunks, prepare_image
from practica.data.sources.folder import stack_images
from practica.data.sources.labels import from_text
from practica.data.sources.pixel_csv import infer_shape
from practica.data.storage import cache
from practica.errors import DataError

LABEL_KEYS = ("label", "class", "target", "y")
LINE_SUFFIXES = (".jsonl", ".ndjson")
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")
_FORMS = (
    '{"image": "<base64 PNG/JPEG>", "label": ...}, {"pixels": [[...]], "label": ...}, '
    '{"features": [...], "label": ...} or numeric fields {"a": 1.0, "b": 2.0, "label": ...}'
)

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Layout:
    """Where a record keeps its sample and its label."""

    kind: Literal["image", "pixels", "features"]
    key: str | None  # the image / pixels / features field; None for named feature fields
    names: tuple[str, ...]  # the feature fields, when the features are fields of their own
    label: str

    def to_fields(self) -> JsonFields:
        if self.kind == "features" and self.key is None:
            return JsonFields(features=list(self.names), label=self.label)
        return JsonFields(**{self.kind: self.key, "label": self.label})

    def describe(self) -> str:
        if self.kind == "features":
            what = f"features in {self.key!r}" if self.key else f"feature fields {', '.join(self.names)}"
        else:
            what = f"{'a base64 image' if self.kind == 'image' else 'pixel values'} in {self.key!r}"
        return f"{what}, the label in {self.label!r}"


def load_json_records(spec: SourceSpec) -> Dataset:
    path = required_path(spec.path, "path", spec.source)
    stat = _stat(path)
    options = {
        "fields": spec.fields.model_dump() if spec.fields else None,
        "image_shape": spec.image_shape,
        "label_names": spec.label_names,
    }
    kind = f"json{DECODE_VERSION} " + json.dumps(options, sort_keys=True, default=list)  # decoding changes: new entries
    key = cache.cache_key(kind, path, [(path.name, stat.st_size, stat.st_mtime_ns)], spec.image_size, spec.channels)
    return cache.cached(
        key,
        lambda: parse_json_records(
            path, spec.fields, spec.image_shape, spec.label_names, spec.image_size, spec.channels
        ),
    )


def parse_json_records(
    path: Path,
    fields: JsonFields | None = None,
    image_shape: Shape | None = None,
    label_names: dict[int, str] | None = None,
    image_size: Size | None = None,
    channels: int | None = None,
) -> Dataset:
    """Read ``path`` whole (no cache)."""
    entries = _read_records(path)  # (where, record or None, why not)
    skipped = [Skipped(where, why) for where, record, why in entries if why is not None]
    records = [(where, record) for where, record, why in entries if why is None]
    first = next(((w, r) for w, r in records if isinstance(r, dict)), None)
    if first is None:
        listed = "; ".join(map(str, skipped[:3])) or "it holds no records"
        raise DataError(f"{path} has no record to read ({listed}). Records look like {_FORMS}.")
    layout = describe_record(first[1], fields, f"{path} (first record, {first[0]})")
    if image_shape is not None and layout.kind != "pixels":
        raise DataError(
            f"image_shape applies to pixel arrays, but the records of {path} hold {layout.describe()}; remove "
            "image_shape" + (" (set image_size: [H, W] to resize images)" if layout.kind == "image" else "") + "."
        )

    wheres, samples, labels = [], [], []
    for where, record in records:
        try:
            label = _label(record, layout)
            sample = _sample(record, layout)
        except _Skip as why:
            skipped.append(Skipped(where, str(why)))
            continue
        wheres.append(where)
        samples.append(sample)
        labels.append(label)

    if layout.kind == "image":
        x, keep = _images(samples, wheres, image_size, channels, skipped)
    elif layout.kind == "pixels":
        x, keep = _pixels(path, samples, wheres, image_shape, skipped)
    else:
        x, keep = _features(samples, wheres, layout, skipped)
    if not keep:
        listed = "; ".join(map(str, skipped[:3]))
        raise DataError(f"{path}: no record could be used ({listed}). Its records hold {layout.describe()}.")
    sources = tuple(wheres[i] for i in keep)
    y, classes = from_text([labels[i] for i in keep], label_names, f"{path}: field {layout.label!r}", sources)
    skipped.sort(key=lambda s: s.position)
    return Dataset(name=path.stem, x=x, y=y, classes=classes, sources=sources, skipped=tuple(skipped))


def describe_record(record: dict[str, Any], fields: JsonFields | None, where: str) -> Layout:
    """The layout of records like ``record``: the suite's ``fields``, and for what they leave out,
    the record's own keys (``image``, ``pixels``, ``features``; else a base64 image, a nested array,
    a list of numbers, or the numeric fields)."""
    keys = list(record)
    shown = ", ".join(keys[:12]) + (", …" if len(keys) > 12 else "")
    label: str | None
    if fields is not None and fields.label is not None:
        label = fields.label
    else:
        label = next((k for k in LABEL_KEYS if k in record), None)
        if label is None:
            raise DataError(
                f"{where} has no label field ({', '.join(LABEL_KEYS)}); its keys are {shown}. Name the label "
                "field in the suite: fields: {label: NAME}."
            )
    if fields is not None:
        for kind in ("image", "pixels", "features"):
            value = getattr(fields, kind)
            if isinstance(value, list):
                return Layout("features", None, tuple(value), label)
            if value is not None:
                return Layout(kind, value, (), label)
    others = {k: v for k, v in record.items() if k not in (label, "id")}
    for kind in ("image", "pixels", "features"):
        if kind in others:
            return Layout(kind, kind, (), label)  # type: ignore[arg-type]
    for key, value in others.items():
        if isinstance(value, str) and _looks_like_image(value):
            return Layout("image", key, (), label)
    for key, value in others.items():
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return Layout("pixels", key, (), label)
    for key, value in others.items():
        if isinstance(value, list) and value and all(_is_number(v) for v in value):
            return Layout("features", key, (), label)
    names = tuple(k for k, v in others.items() if _is_number(v))
    if names:
        return Layout("features", None, names, label)
    raise DataError(
        f"{where} holds no sample the json source can read (its keys are {shown}). Records look like {_FORMS}; "
        "or name the sample's field in the suite: fields: {image: NAME}, {pixels: NAME} or {features: [NAMES]}."
    )


def first_record(path: Path) -> dict[str, Any]:
    """The first record of a .json or .jsonl file, read without parsing the whole of a large file."""
    _stat(path)
    if path.suffix.lower() in LINE_SUFFIXES:
        with _open(path) as f:
            for line in f:
                if line.strip():
                    try:
                        record = json.loads(line)
                    except (json.JSONDecodeError, RecursionError):
                        continue
                    if isinstance(record, dict):
                        return record
        raise DataError(f"{path} holds no JSON record (one object per line, e.g. {_FORMS}).")
    decoder = json.JSONDecoder()
    size = 1 << 16
    while True:
        with _open(path) as f:
            text = f.read(size)
            whole = len(text) < size
        start = len(text) - len(text.lstrip())
        if text[start : start + 1] != "[":
            break
        at = len(text) - len(text[start + 1 :].lstrip())
        if text[at : at + 1] == "]":
            raise DataError(f"{path} holds an empty list; it needs records such as {_FORMS}.")
        try:
            record, _ = decoder.raw_decode(text, at)
        except RecursionError:
            raise _too_deep(path, "its first record") from None
        except json.JSONDecodeError:
            if whole:
                break
            size *= 4
            continue
        if isinstance(record, dict):
            return record
        break
    raise DataError(f"{path} does not start with a list of records ([{{...}}, ...]); records look like {_FORMS}.")


# --- reading ------------------------------------------------------------------------------------------

# Python's JSON reader recurses once per level and stops near 1,000; a record needs at most 5 levels
# (a list of records, a record, pixel rows, pixels, channels).
TOO_DEEP = "nested deeper than Python's JSON reader allows (about 1,000 levels; a record needs at most 5)"


def _too_deep(path: Path, what: str) -> DataError:
    return DataError(
        f"{path}: {what} is {TOO_DEEP}. Check that this is a file of records such as {_FORMS}."
    )


def _stat(path: Path):
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(
            f"JSON file {path} {state}. Check dataset.path (a relative path is read from the suite file's folder); "
            "give a .json file holding a list of records, or a .jsonl file with one record per line."
        )
    return path.stat()


def _open(path: Path):
    return open(path, encoding="utf-8-sig")


def _read_records(path: Path) -> list[tuple[str, Any, str | None]]:
    name = path.name
    try:
        if path.suffix.lower() in LINE_SUFFIXES:
            entries: list[tuple[str, Any, str | None]] = []
            with _open(path) as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    where = f"{name}:line {number}"
                    try:
                        entries.append((where, json.loads(line), None))
                    except json.JSONDecodeError as err:
                        entries.append((where, None, f"not a JSON record ({err.msg} at column {err.colno})"))
                    except RecursionError:
                        entries.append((where, None, TOO_DEEP))
            return entries
        with _open(path) as f:
            text = f.read()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; JSON files are UTF-8.") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}. Check that it is readable.") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise _too_deep(path, "the file") from None
    except json.JSONDecodeError as err:
        hint = (
            " It looks like JSON Lines (one record per line): name it .jsonl."
            if err.msg == "Extra data" else ""
        )
        raise DataError(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}.{hint} A .json file "
            "holds a list of records: [{...}, {...}]."
        ) from None
    if not isinstance(data, list):
        raise DataError(
            f"{path} holds a JSON {_json_type(data)}, not a list of records; write [{{...}}, {{...}}] (or one "
            "record per line in a .jsonl file)."
        )
    return [(f"{name}:record {i}", record, None) for i, record in enumerate(data, 1)]


class _Skip(Exception):
    """Why one record cannot be used."""


def _label(record: Any, layout: Layout) -> str:
    if not isinstance(record, dict):
        raise _Skip(f"a record is a JSON object ({{...}}), not a {_json_type(record)}")
    value = record.get(layout.label)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Skip(f"no label ({layout.label!r} is {'missing' if layout.label not in record else 'empty'})")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Skip(f"the label {layout.label!r} is a {_json_type(value)}; give a class index or a class name")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _sample(record: dict[str, Any], layout: Layout) -> Any:
    if layout.kind == "features" and layout.key is None:
        values = []
        for name in layout.names:
            if name not in record:
                raise _Skip(f"no feature {name!r}")
            if not _is_number(record[name]) or not math.isfinite(record[name]):
                raise _Skip(f"feature {name!r} is {record[name]!r}, not a number")
            values.append(record[name])
        return values
    if layout.key not in record or record[layout.key] is None:
        raise _Skip(f"no {layout.key!r}")
    value = record[layout.key]
    if layout.kind == "image":
        if not isinstance(value, str):
            raise _Skip(f"{layout.key!r} is a {_json_type(value)}, not a base64 string of a PNG or JPEG")
        return value
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise _Skip(f"{layout.key!r} is not a rectangular array of numbers") from None
    if not np.isfinite(array).all():
        raise _Skip(f"{layout.key!r} holds a value that is not a finite number")
    if layout.kind == "features" and array.ndim != 1:
        raise _Skip(f"{layout.key!r} has shape {_shape_text(array.shape)}; features are a flat list of numbers")
    return array


# --- samples to arrays --------------------------------------------------------------------------------


def _images(
    texts: list[str], wheres: list[str], image_size: Size | None, channels: int | None, skipped: list[Skipped]
) -> tuple[np.ndarray, list[int]]:
    decoded = map_chunks(partial(_decode_chunk, image_size=image_size, channels=channels), texts)
    keep = [i for i, d in enumerate(decoded) if isinstance(d, np.ndarray)]
    skipped += [Skipped(wheres[i], d) for i, d in enumerate(decoded) if isinstance(d, str)]
    if not keep:
        return np.empty((0,)), keep
    images = [d for d in decoded if isinstance(d, np.ndarray)]  # decoded[i] for i in keep
    return stack_images(images, [wheres[i] for i in keep], channels), keep


def _decode_chunk(texts: list[str], image_size: Size | None, channels: int | None) -> list[np.ndarray | str]:
    return [_decode_one(t, image_size, channels) for t in texts]


def _decode_one(text: str, image_size: Size | None, channels: int | None) -> np.ndarray | str:
    if text.startswith("data:"):  # a data URL, as a browser's FileReader gives
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "the image is not valid base64"
    if not data:
        return "the image is empty"
    try:
        with Image.open(io.BytesIO(data)) as img:
            return prepare_image(img, image_size, channels)
    except UnidentifiedImageError:
        return "not an image: the base64 decodes to bytes that are no format Pillow reads (PNG, JPEG, ...)"
    except Exception as err:  # noqa: BLE001 — PIL raises many kinds on damaged data; skip, never crash
        return f"the image cannot be decoded ({type(err).__name__}: {err})"


def _pixels(
    path: Path, arrays: list[np.ndarray], wheres: list[str], image_shape: Shape | None, skipped: list[Skipped]
) -> tuple[np.ndarray, list[int]]:
    shapes = [a.shape + (1,) if a.ndim == 2 else a.shape for a in arrays]
    if image_shape is not None:
        target, why = tuple(image_shape), "image_shape"
    else:
        common = Counter(s for s in shapes if len(s) in (1, 3)).most_common(1)
        target, why = (common[0][0] if common else (0, 0, 0)), "most records"
        if len(target) == 1:
            inferred = infer_shape(target[0])
            if inferred is None:
                raise DataError(
                    f"{path}: the pixels are flat lists of {target[0]} values, which make no square image (s×s, or "
                    f"s×s×3 for RGB); declare the shape as image_shape: [H, W, C] with H×W×C = {target[0]}."
                )
            target, why = inferred, f"{target[0]} values make a square image"
    size = math.prod(target)
    keep, out = [], []
    for i, (a, shape) in enumerate(zip(arrays, shapes, strict=True)):
        if shape != target and shape != (size,):
            skipped.append(Skipped(wheres[i], f"pixels of shape {_shape_text(a.shape)}; "
                                              f"expected {_shape_text(target)} ({why})"))
        elif a.min() < 0 or a.max() > 255:
            bad = a.min() if a.min() < 0 else a.max()
            skipped.append(Skipped(wheres[i], f"pixel value {bad:g} is outside 0–255"))
        else:
            keep.append(i)
            out.append(a.reshape(target))
    if not keep:
        return np.empty((0,)), keep
    return np.rint(np.stack(out)).astype(np.uint8), keep


def _features(
    samples: list[Any], wheres: list[str], layout: Layout, skipped: list[Skipped]
) -> tuple[np.ndarray, list[int]]:
    if layout.key is None:
        return np.asarray(samples, dtype=np.float32).reshape(len(samples), len(layout.names)), list(range(len(samples)))
    lengths = Counter(len(s) for s in samples)
    n = lengths.most_common(1)[0][0] if lengths else 0
    keep = []
    for i, s in enumerate(samples):
        if len(s) == n:
            keep.append(i)
        else:
            skipped.append(Skipped(wheres[i], f"{len(s)} features in {layout.key!r}; most records have {n}"))
    x = np.asarray([samples[i] for i in keep], dtype=np.float32).reshape(len(keep), n)
    return x, keep


# --- small helpers ------------------------------------------------------------------------------------


def _looks_like_image(text: str) -> bool:
    if text.startswith("data:image/"):
        return True
    try:
        head = base64.b64decode(text[:24], validate=True)
    except (binascii.Error, ValueError):
        return False
    return head.startswith(_IMAGE_MAGIC)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) or "a single number"
