"""The ``npy`` source: samples in one ``.npy`` file (``path``), labels in another (``labels``).

Samples are images (uint8 N×H×W or N×H×W×C) or numeric N×F features, checked as the npz
source checks them; labels are class indices (named by ``label_names``) or class names.
Files are always read with ``allow_pickle=False``: no Python object is ever loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from practica.config.schema import SourceSpec
from practica.data.records import Dataset
from practica.data.sources import required_path
from practica.data.sources.labels import from_integers, from_names
from practica.data.sources.npz import as_samples
from practica.data.storage.mapped import Setting, want_memmap
from practica.errors import DataError

_SAVE_HINT = "Save them with numpy.save('x.npy', samples) and numpy.save('y.npy', labels)."


def load_npy(spec: SourceSpec, memmap: Setting | None = False) -> Dataset:
    """``memmap`` (True, or "auto" for images too big for memory): uint8 images are memory-mapped
    where the file lies (``mmap_mode="r"``) rather than read; features are always read."""
    x_path = required_path(spec.path, "path", spec.source)
    y_path = required_path(spec.labels, "labels", spec.source)
    x = as_samples(_read(x_path, "samples (path)", memmap), str(x_path))
    raw_y = _read(y_path, "labels")
    sources = tuple(f"{x_path.name}[{i}]" for i in range(len(x)))
    if getattr(spec, "task", "auto") == "regression":  # one number per sample, not a class
        from practica.data.sources.targets import regression_targets

        y = regression_targets(raw_y, str(y_path), len(x))
        return Dataset(name=x_path.stem, x=x, y=y, classes=(), sources=sources, task="regression")
    y, classes = _labels(raw_y, y_path, x_path, len(x), spec.label_names)
    return Dataset(
        name=x_path.stem,
        x=x,
        y=y,
        classes=classes,
        sources=sources,
    )


def _read(path: Path, what: str, memmap: Setting | None = False) -> np.ndarray:
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(
            f"the {what} file {path} {state}. Check the suite's {'labels' if what == 'labels' else 'path'} "
            f"(a relative path is read from the suite file's folder). {_SAVE_HINT}"
        )
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"PK"):  # a zip: an .npz archive, whatever its name
        raise DataError(f"{path} is an .npz archive of named arrays, not one .npy array; use source: npz for it.")
    if magic != b"\x93NUMPY":
        raise DataError(f"{path} is not a .npy file (it does not start as one). {_SAVE_HINT}")
    try:
        array = _mapped_images(path, memmap) if memmap else None
        if array is None:
            array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise DataError(
                f"{path} holds Python objects (an array of dtype object), which are never loaded (unpickling "
                "can run code). Save plain numbers or strings, e.g. numpy.save(path, labels.astype(str))."
            ) from None
        raise DataError(f"{path} is not a readable .npy file ({err}). {_SAVE_HINT}") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npy file ({err}). {_SAVE_HINT}") from None
    if array.dtype.names is not None:
        raise DataError(
            f"{path} holds a structured array (fields {', '.join(array.dtype.names)}); save plain numeric arrays."
        )
    return array


def _mapped_images(path: Path, memmap: Setting) -> np.memmap | None:
    """The file's array memory-mapped, if it holds uint8 images (N×H×W or N×H×W×C, C-ordered) and
    ``memmap`` asks for it (True, or "auto" and too big for memory); else None, to be read."""
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError:
        return None  # Python objects cannot be mapped: the plain read says what is wrong
    if not isinstance(array, np.memmap) or array.dtype != np.uint8 or array.ndim not in (3, 4):
        return None
    if not array.flags.c_contiguous or not want_memmap(memmap, array.nbytes):
        return None
    return array


def _labels(
    y: np.ndarray, y_path: Path, x_path: Path, n: int, label_names: dict[int, str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot rows? save y.argmax(axis=1))" if y.ndim == 2 else ""
        raise DataError(f"{y_path} has shape {y.shape}; labels are one value per sample, shape (N,){hint}.")
    if len(y) != n:
        raise DataError(
            f"{x_path} has {n} samples but {y_path} has {len(y)} labels; they must match, one label per sample "
            "in the same order."
        )
    sources = [f"{x_path.name}[{i}]" for i in range(n)]
    if y.dtype.kind in "iu":
        return from_integers(y, label_names, str(y_path), sources)
    if y.dtype.kind in "US":
        return from_names(y.astype(str), label_names, str(y_path))
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        return from_integers(y.astype(np.int64), label_names, str(y_path), sources)
    raise DataError(
        f"{y_path} holds {y.dtype} labels; labels must be integers (class indices 0..K-1, named by "
        "label_names) or strings (class names)."
    )
