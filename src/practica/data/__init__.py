"""The data stage: a declared data set, decoded (cached), checked and split.

- ``sources/``: one loader per kind of source and ``load.load_source``, which picks one;
- ``storage/``: the data cache and memory-mapped arrays;
- ``duplicates/``: hashing (``hygiene``), the ``DuplicateIndex`` taken once per set, the cleaning
  policy over it (``clean``) and the hygiene report over it (``checks``);
- ``splits/``: the split that keeps duplicate groups together, and its lineage;
- ``records.py``: what the stage hands on (``Dataset``, ``Splits``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from practica.data.records import Dataset, Splits
from practica.errors import DataError
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.config.schema import DatasetSpec, SourceSpec

__all__ = ["Dataset", "Splits", "load_source", "make_splits", "prepare_data"]


def __getattr__(name: str):
    # The loaders pull in scikit-learn; prediction and serving import practica.data.sources.decode
    # alone and should not pay for them.
    if name == "load_source":
        from practica.data.sources.load import load_source

        return load_source
    if name == "make_splits":
        from practica.data.splits.split import make_splits

        return make_splits
    raise AttributeError(name)


def prepare_data(spec: DatasetSpec) -> Splits:
    """Load the data (and the fixed test set, at the data's size and channels) and split it.

    ``spec.memmap``: a memory-mapped data set (and its fixed test set with it) gives memory-mapped
    splits, each copied once into its own file in the data cache (see ``split.make_splits``).
    """
    from practica.data.sources.load import load_source
    from practica.data.splits.split import make_splits
    from practica.data.storage.mapped import is_mapped

    data = load_source(spec, memmap=spec.memmap)
    test_spec = spec.test or official_test(spec)
    test = None
    if test_spec is not None:
        if not get_task(data.task).has_classes:  # the fixed test set's targets are numbers too
            from practica.config.schema import DatasetSpec

            test_spec = DatasetSpec.model_validate({**test_spec.model_dump(), "task": data.task})
        shape = {"image_size": data.x.shape[1:3], "channels": data.x.shape[3]} if data.kind == "image" else {}
        memmap = True if is_mapped(data.x) else spec.memmap
        test = align_test(data, load_source(test_spec, memmap=memmap, **shape))
    from practica.data.duplicates.clean import cached_clean

    # The cleaning policy (duplicates, conflicting labels, test leaks) decides before the split,
    # which keeps its duplicate groups together; every decision is recorded in the splits.
    return make_splits(data, spec, test, cached_clean(data, spec.clean, test))


def official_test(spec: DatasetSpec) -> SourceSpec | None:
    """The test part of a set that comes with one (CIFAR-10, MNIST, ..., or a folder holding train/
    and test/), used as the fixed test set unless the suite names another. Published results are on
    that part, so ours compare."""
    from practica.config.schema import KNOWN_SOURCES, SourceSpec
    from practica.data.sources import required_path
    from practica.data.sources.folder import split_parts

    if spec.part != "train":
        return None
    if spec.source not in KNOWN_SOURCES and not (
        spec.source in ("folder", "text") and split_parts(required_path(spec.path, "path", spec.source))
    ):
        return None
    fields = spec.model_dump(include=set(SourceSpec.model_fields))
    return SourceSpec.model_validate({**fields, "part": "test"})


def align_test(data: Dataset, test: Dataset) -> Dataset:
    """The fixed test set with the data's class numbering; its classes may be fewer or reordered."""
    if test.input_shape != data.input_shape:
        raise DataError(
            f"the fixed test set '{test.name}' has samples of shape {test.input_shape} but the data "
            f"'{data.name}' has {data.input_shape}; give both the same kind of samples (images or features, "
            "and as many features)."
        )
    if not get_task(data.task).has_classes:
        return test
    unknown = [c for c in test.classes if c not in data.classes]
    if unknown:
        raise DataError(
            f"the fixed test set '{test.name}' has classes the training data lacks: {unknown}. Training "
            f"classes: {list(data.classes)}; test classes: {list(test.classes)}. Name the test classes "
            "(folder names, or the npz 'classes' array) as the training ones."
        )
    to_data = np.array([data.classes.index(c) for c in test.classes], dtype=np.int64)
    return Dataset(
        name=test.name,
        x=test.x,
        y=to_data[test.y],
        classes=data.classes,
        sources=test.sources,
        skipped=test.skipped,
        notes=test.notes,
    )
