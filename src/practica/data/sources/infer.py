"""Guess the source of a path, so a data set can be looked at without writing a suite file.

``infer_source(path)`` gives the ``SourceSpec`` a suite would declare for it: a folder (class
sub-folders, or train/ and test/ holding them), a pixel CSV or a CSV table (told apart by their values:
a pixel CSV is whole numbers 0–255 in many columns), JSON records (with the fields read
from the first record), an .npz archive, or an .npy file with its labels file beside it; and texts (a CSV,
TSV or JSON lines file with a column named like a text, e.g. ``text`` or ``review``, or class
sub-folders of ``.txt`` files: ``sources/text.py``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from practica.config.schema import SourceSpec
from practica.data.sources.decode import IMAGE_SUFFIXES
from practica.errors import DataError

ACCEPTED = (
    "a folder (one sub-folder per class, or train/ and test/ each holding them), a pixel CSV (.csv) "
    "or a CSV table (.csv), JSON records (.json, .jsonl), texts (a .csv, .tsv or .jsonl with a text column, or "
    "class sub-folders of .txt files), an .npz archive, or an .npy file with its labels "
    ".npy beside it (x.npy and y.npy, images.npy and labels.npy, x_train.npy and y_train.npy)"
)
# A word of a samples file's name → the same word in its labels file's name (and back).
_SAMPLE_WORDS = {"x": ("y",), "X": ("y", "Y"), "images": ("labels",), "image": ("label",), "imgs": ("labels",),
                 "features": ("labels",), "data": ("labels",), "inputs": ("targets",), "samples": ("labels",)}
_LABEL_WORDS = {"y": ("x", "X"), "Y": ("X",), "labels": ("images", "features", "data", "samples"),
                "label": ("image",), "targets": ("inputs",)}
_ARCHIVES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")


def infer_source(path: Path) -> SourceSpec:
    """The source a suite would declare for ``path``; a DataError saying what is accepted otherwise."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(f"{path} does not exist. Give {ACCEPTED}.")
    if path.is_dir():
        return _folder(path)
    suffix = path.suffix.lower()
    from practica.data.sources.text import looks_like_text

    if suffix in (".tsv", ".tab") or (suffix in (".csv", ".json", ".jsonl", ".ndjson") and looks_like_text(path)):
        return SourceSpec(source="text", path=path)
    if suffix == ".csv":
        from practica.data.sources.tabular import looks_like_pixels

        return SourceSpec(source="pixel_csv" if looks_like_pixels(path) else "csv", path=path)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return _json(path)
    if suffix == ".npz":
        return SourceSpec(source="npz", path=path)
    if suffix == ".npy":
        return _npy(path)
    if suffix in IMAGE_SUFFIXES:
        raise DataError(
            f"{path} is a single image; a data set is many. Give the folder of class sub-folders it belongs to "
            f"({path.parent.parent}, if {path.parent.name} is its class), or {ACCEPTED}."
        )
    if suffix in _ARCHIVES:
        raise DataError(f"{path} is an archive; unpack it first, then give what it holds: {ACCEPTED}.")
    raise DataError(f"{path} is not a kind of data practica reads ({suffix or 'no suffix'}). Give {ACCEPTED}.")


def _folder(path: Path) -> SourceSpec:
    from practica.data.sources.folder import split_parts
    from practica.data.sources.text import is_text_folder

    if is_text_folder(path):
        return SourceSpec(source="text", path=path)
    if split_parts(path) is not None:
        return SourceSpec(source="folder", path=path)
    with os.scandir(path) as it:
        entries = [e for e in it if not e.name.startswith(".")]
    if any(e.is_dir() for e in entries):
        return SourceSpec(source="folder", path=path)
    images = sum(1 for e in entries if e.name.lower().endswith(tuple(IMAGE_SUFFIXES)))
    if images:
        raise DataError(
            f"{path} holds {images} images but no class sub-folders; move them into one sub-folder per class "
            f"({path}/<class>/<image>)."
        )
    files = sorted(e.name for e in entries)[:5]
    held = f" (it holds {', '.join(files)}{', …' if len(entries) > 5 else ''})" if files else " (it is empty)"
    raise DataError(f"{path} is a folder without class sub-folders{held}. Give {ACCEPTED}.")


def _json(path: Path) -> SourceSpec:
    from practica.data.sources.json_records import describe_record, first_record

    layout = describe_record(first_record(path), None, f"{path} (first record)")
    return SourceSpec(source="json", path=path, fields=layout.to_fields())


def _npy(path: Path) -> SourceSpec:
    stem = path.name[: -len(".npy")]
    labels = _partner(path.parent, stem, _SAMPLE_WORDS)
    if labels is not None:
        return SourceSpec(source="npy", path=path, labels=labels)
    samples = _partner(path.parent, stem, _LABEL_WORDS)
    if samples is not None:  # given the labels file: the samples are its partner
        return SourceSpec(source="npy", path=samples, labels=path)
    raise DataError(
        f"found no labels file beside {path} (looked for one named like it, e.g. y.npy beside x.npy, labels.npy "
        "beside images.npy, y_train.npy beside x_train.npy). Write a suite with source: npy, path: and labels:."
    )


def _partner(folder: Path, stem: str, words: dict[str, tuple[str, ...]]) -> Path | None:
    """The file named like ``stem`` with one word swapped by ``words`` (x_train → y_train), if it exists."""
    parts = re.split(r"([_\-.])", stem)  # keeps the separators
    for i, part in enumerate(parts):
        for swap in words.get(part, ()) + words.get(part.lower(), ()):
            candidate = folder / ("".join(parts[:i] + [swap] + parts[i + 1 :]) + ".npy")
            if candidate.is_file():
                return candidate
    return None
