"""Check, before anything is read, that the files and folders a suite's data names are there."""

from __future__ import annotations

from pathlib import Path

from practica.config.schema import SourceSpec, Suite
from practica.data.sources import required_path
from practica.data.sources.folder import part_root
from practica.errors import DataError

# What each source's path must be (any other: a file); CIFAR takes its archive or the folder it was extracted to.
_PATH_KINDS = {"folder": "folder", "mnist": "folder", "fashion_mnist": "folder", "cifar10": "either",
               "cifar100": "either"}
_KIND_NAMES = {"folder": "a folder", "file": "a file", "either": "an archive file or the folder it was extracted to"}


def check_data_paths(suite: Suite) -> None:
    """Check, without reading them, that the files and folders the suite's data names exist and are of
    the right kind (a folder, or a regular file: not a device or a pipe); raise ``DataError`` naming the
    key, the path and what it should be. Paths are already resolved against the suite file's folder."""
    specs: list[tuple[str, SourceSpec]] = [("dataset", suite.dataset)]
    if suite.dataset.test is not None:
        specs.append(("dataset.test", suite.dataset.test))
    for where, spec in specs:
        if spec.path is not None:
            _check_path(f"{where}.path", spec.path, _PATH_KINDS.get(spec.source, "file"), spec.source)
        if spec.labels is not None:
            _check_path(f"{where}.labels", spec.labels, "file", spec.source)
        if spec.source == "folder" and spec.part == "test":
            part_root(required_path(spec.path, "path", spec.source), "test")


def _check_path(key: str, path: Path, want: str, source: str) -> None:
    fix = (f"Check {key} (a relative path is read from the suite file's folder); source '{source}' needs "
           f"{_KIND_NAMES[want]}.")
    if not path.exists():
        raise DataError(f"{key} {path} does not exist. {fix}")
    if path.is_dir():
        if want == "file":
            raise DataError(f"{key} {path} is a folder, not a file. {fix}")
        return
    if not path.is_file():
        raise DataError(f"{key} {path} is not a regular file (a device, a pipe or a socket). {fix}")
    if want == "folder":
        raise DataError(f"{key} {path} is a file, not a folder. {fix}")
