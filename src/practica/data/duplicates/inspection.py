"""What ``practica data inspect`` looks at: a suite's data, or a path, loaded as named parts.

A suite file gives its dataset (the whole of it: ``max_samples`` and the split do not apply) and
its fixed test set (the suite's ``test:``, or the set's own test part), decoded exactly as a run
decodes them. A path is read as its source would be (``infer_source``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from practica.data.records import Dataset
from practica.errors import DataError

SUITE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Inspected:
    title: str  # the suite's name, or the path
    source: str  # how it was read, in words
    parts: dict[str, Dataset]  # "train" and "test", or "data" alone when there is no fixed test set


def load_target(target: Path) -> Inspected:
    """The parts of a suite file's data set, or of a data path. Raises ``PracticaError`` subclasses."""
    from practica.config.schema import DatasetSpec

    if target.suffix.lower() in SUITE_SUFFIXES and not target.is_dir():
        from practica.config import load_suite

        suite = load_suite(target)  # ConfigError (exit 2) for a missing or invalid file
        spec, title = suite.dataset, suite.name
    else:
        if not target.exists():
            raise DataError(
                f"{target} does not exist. Give a suite file (.yaml), a data folder (one sub-folder per class) "
                "or a data file (.npz, .npy, .csv, .json)."
            )
        spec, title = _infer(target), str(target)
    return _load(spec if isinstance(spec, DatasetSpec) else DatasetSpec.model_validate(spec.model_dump()), title)


def _load(spec, title: str) -> Inspected:
    from practica.data import align_test, official_test
    from practica.data.sources.load import load_source

    data = load_source(spec)
    test_spec = spec.test or official_test(spec)
    if test_spec is None:
        return Inspected(title, _describe(spec, None), {"data": data})
    shape = {"image_size": data.x.shape[1:3], "channels": data.x.shape[3]} if data.kind == "image" else {}
    test = align_test(data, load_source(test_spec, **shape))
    return Inspected(title, _describe(spec, test_spec), {"train": data, "test": test})


def _describe(spec, test_spec) -> str:
    def one(s) -> str:
        return s.source + (f" · {s.path}" if s.path else "") + (" (its test part)" if s.part == "test" else "")

    return one(spec) + ("" if test_spec is None else f"; test: {one(test_spec)}")


def _infer(path: Path):
    """The source spec of ``path``: ``practica.data.sources.infer`` where it exists, else folders and .npz."""
    try:
        from practica.data.sources.infer import infer_source
    except ImportError:
        return _infer_basic(path)
    return infer_source(path)


def _infer_basic(path: Path):
    from practica.config.schema import DatasetSpec, SourceSpec

    if path.is_dir():
        train, test = path / "train", path / "test"
        if train.is_dir() and test.is_dir():
            return DatasetSpec(source="folder", path=train, test=SourceSpec(source="folder", path=test))
        return DatasetSpec(source="folder", path=path)
    if path.suffix.lower() == ".npz":
        return DatasetSpec(source="npz", path=path)
    raise DataError(f"cannot tell what kind of data {path} holds; give a folder of class sub-folders or a .npz file")
