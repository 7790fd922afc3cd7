"""Which of the new test samples the production model trained on, read from its bundle's ``lineage.json``.

A model scored on samples it learned from looks better than it is, so a comparison on them favours production.
The lineage names every sample of its train and validation splits and hashes its input files; two ways to match:

- by content: when the production model's data was a folder, its lineage holds each file's sha256, and a new
  test sample that is a file is matched by its own sha256 (wherever it lies now, whatever its name);
- by name: when both were read from the same file (a built-in set such as ``digits``, an ``.npz``), the same
  sha256 of that file, a sample's name (``digits[17]``, ``train.npz[3]``) is the same sample.

Otherwise the overlap cannot be checked, and the record says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from practica.config.schema import DatasetSpec
from practica.data.records import Dataset


@dataclass(frozen=True)
class Overlap:
    """``mask[i]``: new test sample ``i`` was in the production model's training or validation data."""

    mask: np.ndarray
    method: str  # "sha256 of files", "sample names in the same file", or "not checkable"
    note: str = ""

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    def to_dict(self, test: Dataset) -> dict:
        shown = [test.sources[i] for i in np.flatnonzero(self.mask)[:20]] if test.sources else []
        return {"method": self.method, "count": self.count, "of": len(self.mask), "examples": shown,
                "note": self.note}


def production_overlap(lineage: dict | None, spec: DatasetSpec, test: Dataset) -> Overlap:
    """The new test samples (``test``, loaded from ``spec``) that ``lineage`` (the production bundle's) lists in
    its training or validation data."""
    none = np.zeros(len(test), dtype=bool)
    if not lineage:
        return Overlap(none, "not checkable", "the production bundle has no lineage.json")
    data = (lineage.get("samples") or {}).get("data") or {}
    seen = [*data.get("train", []), *data.get("val", [])]
    record: dict = next((i for i in lineage.get("inputs", []) if i.get("role") == "data"), {})
    if record.get("kind") == "folder" and isinstance(record.get("files"), dict):
        return _by_content(record["files"], seen, test, none)
    if record.get("kind") == "file" and len(test.sources) == len(test):
        return _by_name(record, seen, spec, test, none)
    return Overlap(none, "not checkable", f"the production model's data ({record.get('source', 'unknown')}) has "
                   "no per-file hashes to match against")


def _by_content(files: dict[str, str], seen: list[str], test: Dataset, none: np.ndarray) -> Overlap:
    from practica.data.splits.lineage import sha256_file

    trained = {files[name] for name in seen if name in files}
    if len(test.sources) != len(test):
        return Overlap(none, "not checkable", "the new test samples are not files")
    mask = none.copy()
    for i, source in enumerate(test.sources):
        path = Path(source)
        if path.is_file():
            mask[i] = sha256_file(path) in trained
    return Overlap(mask, "sha256 of files")


def _by_name(record: dict, seen: list[str], spec: DatasetSpec, test: Dataset, none: np.ndarray) -> Overlap:
    from practica.data.splits.lineage import input_record

    ours = input_record(spec.test if spec.test is not None else spec, "data")
    if ours.get("sha256") != record.get("sha256"):
        return Overlap(none, "not checkable", f"the new data are read from another file than the production "
                       f"model's ({record.get('path')}); sample names cannot be matched across files")
    trained = set(seen)
    return Overlap(np.array([s in trained for s in test.sources], dtype=bool), "sample names in the same file")
