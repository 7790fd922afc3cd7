"""What the data stage hands on: a decoded ``Dataset`` and its ``Splits``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import PlainSerializer, TypeAdapter

from practica.data.storage import mapped
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.data.duplicates.index import DuplicateIndex


@dataclass(frozen=True)
class Skipped:
    """A file a loader left out, or a row of a table or a record of a JSON file, and why.

    ``source`` names it as ``Dataset.sources`` would have (a path, ``table.csv:row 22``,
    ``d.jsonl:line 6``); ``str()`` gives ``"source: reason"``, as the notes and reports list it.
    """

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"

    @property
    def is_row(self) -> bool:
        """A row of a table or a record of a JSON file, rather than a file."""
        return ":row " in self.source or ":line " in self.source

    @property
    def position(self) -> int:
        """Its row, line or record number (0 for a file): the order in which a loader lists them."""
        where = self.source.rpartition(":")[2]
        word, _, number = where.partition(" ")
        return int(number) if word in ("row", "line", "record") and number.isdigit() else 0


# The skipped entries as JSON (the data cache's meta.json): [{"source": ..., "reason": ...}, ...].
SKIPPED_LIST: TypeAdapter[tuple[Skipped, ...]] = TypeAdapter(tuple[Skipped, ...])


@dataclass(frozen=True)
class Dataset:
    """Decoded samples, in memory, or memory-mapped from the data cache (``dataset.memmap``).

    ``x`` is uint8 N×H×W×C for images (C is 1 or 3), float32 N×F for feature tables, or a 1-D object
    array of N ``str`` for texts (a text model's tokenizer, fitted on the training split, makes them ids);
    ``y`` is int64 N with values in ``range(len(classes))`` for classification, float32 N (and
    ``classes`` empty) for regression; ``sources`` names where each sample came from (a file
    path, or ``digits[17]``). ``feature_names`` names a table's columns; ``table`` is the raw
    table's column schema (``data/sources/tabular.py``) when ``x`` holds raw columns (categorical codes,
    NaN for missing) that a preprocessing fitted on the training split turns into model inputs.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    sources: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()  # each file (or a table's row, a JSON record) left out, and why
    task: Literal["classification", "regression"] = "classification"
    feature_names: tuple[str, ...] = ()
    table: Any = None  # practica.data.sources.tabular's column schema, for raw tables
    notes: tuple[str, ...] = ()  # what the loader wants said (e.g. files of texts read as Latin-1, not UTF-8)

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} samples but y has {len(self.y)}")

    @property
    def kind(self) -> Literal["image", "features", "text"]:
        return "image" if self.x.ndim == 4 else "text" if self.x.ndim == 1 else "features"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample as the models see it: (C, H, W) for images, (F,) for features, () for a text
        (its tokenizer decides the length)."""
        if self.kind == "text":
            return ()
        if self.kind == "image":
            _, h, w, c = self.x.shape
            return (c, h, w)
        return (self.x.shape[1],)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def skipped_noun(self) -> str:
        return skipped_noun(self.skipped)

    def class_counts(self) -> dict[str, int]:
        if not get_task(self.task).has_classes:
            return {}
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts, strict=True)}

    def subset(self, indices: np.ndarray, name: str | None = None, *, path: Path | None = None) -> Dataset:
        """The samples at ``indices``. Of a memory-mapped set (``mapped.py``), a memory-mapped set too,
        copied a chunk at a time: into the file at ``path`` (reused when whole), else a scratch file."""
        x = mapped.take(self.x, np.asarray(indices), path) if mapped.is_mapped(self.x) else self.x[indices]
        return replace(
            self,
            name=name or self.name,
            x=x,
            y=self.y[indices],
            sources=tuple(self.sources[i] for i in indices) if self.sources else (),
        )


def sample_name(data: Dataset, i: int, part: str | None = None) -> str:
    """Sample ``i``'s source (a file, ``train.npz[3]``), or ``part[i]`` (the set's name by default)
    when the loader named none: how every finding and decision names a sample."""
    return data.sources[i] if len(data.sources) == len(data) else f"{part or data.name}[{i}]"


def skipped_noun(entries: Sequence[Skipped]) -> str:
    """What the skipped entries are: rows of a table or records of a JSON file ("row"), else files."""
    return "row" if entries and all(e.is_row for e in entries) else "file"


_Index = Annotated[int, PlainSerializer(int, return_type=int)]  # a NumPy integer passes as an int


@dataclass(frozen=True)
class Decision:
    """One cleaning decision: what was done (``skip``, ``drop`` or ``keep``) to which samples
    (their sources), by which ``rule`` and why. ``indices`` point into the data set, or into the
    fixed test set for ``set == "test"``; a skipped file never became a sample, so it has none."""

    action: str  # "skip" | "drop" | "keep"
    samples: tuple[str, ...]
    reason: str
    rule: str = ""  # "unreadable" | "exact_duplicate" | "near_duplicate" | "conflicting_labels" | "test_leak"
    indices: tuple[_Index, ...] = ()
    set: str = "data"

    def to_dict(self) -> dict:
        """The decision as lineage.json lists it (without ``indices``); ``DECISIONS`` keeps them all."""
        return {"action": self.action, "rule": self.rule, "set": self.set, "samples": list(self.samples),
                "reason": self.reason}


# Cleaning decisions as JSON, every field (the cleaning cache's entries): dump_python / validate_python.
DECISIONS: TypeAdapter[tuple[Decision, ...]] = TypeAdapter(tuple[Decision, ...])


@dataclass(frozen=True)
class Splits:
    """Train/validation/test sets with the record of how they were made.

    ``indices`` maps each split to the sample indices in its origin data set (the
    test split may come from its own fixed set: ``test_is_fixed``). ``fingerprint``
    is a sha256 over the contents and the split, so two runs on the same data and seed
    share it.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    indices: dict[str, np.ndarray]
    fingerprint: str
    seed: int
    test_is_fixed: bool
    notes: tuple[str, ...] = field(default=())
    # The cleaning policy's record, for the lineage: every sample skipped, dropped or kept with why.
    decisions: tuple[Decision, ...] = field(default=())
    # Duplicate-group id per sample of the origin data (exact and near duplicates share one); the
    # split keeps a group on one side, and cross-validation folds do too. None: every sample alone.
    groups: np.ndarray | None = field(default=None, repr=False)
    # One line per cleaning rule that dropped samples of the data (its setting, counts, the class hit
    # hardest): shown in the console and at the top of the report's data section.
    drops: tuple[str, ...] = field(default=())
    # Each split's duplicate index, cut from the ones the cleaning policy took, so the hygiene report
    # hashes nothing again (``checks.check_data(..., index=)``). None: the report hashes the splits.
    duplicates: dict[str, DuplicateIndex] | None = field(default=None, repr=False, compare=False)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    def shares(self) -> dict[str, float]:
        """Each split's share of the samples in all three, as made (not as the settings asked)."""
        total = len(self.train) + len(self.val) + len(self.test)
        return {part: len(getattr(self, part)) / total if total else 0.0 for part in ("train", "val", "test")}
