"""The ``npz`` source: arrays ``x`` (images or features) and ``y`` (labels), optional ``classes``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from practica.data.records import Dataset
from practica.errors import DataError

KEY_PAIRS = (("x", "y"), ("images", "labels"), ("X", "y"))
_SAVE_HINT = "Save one with numpy.savez(path, x=samples, y=labels)."


def load_npz(path: Path) -> Dataset:
    """Read and check ``path``; images become uint8 N×H×W×C, features float32 N×F."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"npz file {path} {what}. Check dataset.path. {_SAVE_HINT}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path} is not a readable .npz file ({err}). {_SAVE_HINT}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array (.npy), not named arrays. {_SAVE_HINT}")
    with archive:
        x_key, y_key = _pick_keys(path, archive.files)
        x = _features_or_images(path, x_key, _read(path, archive, x_key))
        raw_y = _read(path, archive, y_key)
        classes = _read(path, archive, "classes") if "classes" in archive.files else None
    y, names = _labels(path, y_key, raw_y, classes, len(x), x_key)
    return Dataset(
        name=path.stem, x=x, y=y, classes=names, sources=tuple(f"{path.name}[{i}]" for i in range(len(x)))
    )


def _pick_keys(path: Path, keys: list[str]) -> tuple[str, str]:
    for x_key, y_key in KEY_PAIRS:
        if x_key in keys and y_key in keys:
            return x_key, y_key
    half = next(((a, b) for a, b in KEY_PAIRS if a in keys or b in keys), None)
    given = ", ".join(repr(k) for k in keys) or "no arrays"
    if half:
        have, lack = half if half[0] in keys else half[::-1]
        raise DataError(f"{path} has {have!r} but no {lack!r} (it holds {given}). {_SAVE_HINT}")
    raise DataError(
        f"{path} holds {given}; expected arrays 'x' and 'y' (or 'images' and 'labels', or 'X' and 'y'). {_SAVE_HINT}"
    )


def _read(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        return archive[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(
            f"{path}: array {key!r} cannot be read ({err}). Save plain numeric or string arrays "
            "(no Python objects) with numpy.savez."
        ) from None


def _features_or_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    return as_samples(x, f"{path}: {key!r}")


def as_samples(x: np.ndarray, what: str) -> np.ndarray:
    """An array of samples as a ``Dataset`` holds them: 2-D numbers become float32 N×F features,
    uint8 N×H×W or N×H×W×C (C 1 or 3) become N×H×W×C images; anything else is a ``DataError``
    whose message starts with ``what`` (the file, and the array in it)."""
    expected = "uint8 N×H×W or N×H×W×C images (C 1 or 3), or numeric N×F features"
    if x.ndim not in (2, 3, 4) or len(x) == 0:
        raise DataError(f"{what} has shape {x.shape}; expected {expected}.")
    if x.ndim == 2:
        if x.dtype.kind not in "biuf":
            raise DataError(f"{what} holds {x.dtype} values; features must be numbers ({expected}).")
        features = x.astype(np.float32)
        if not np.isfinite(features).all():
            raise DataError(f"{what} holds NaN or infinite values; replace them (e.g. numpy.nan_to_num).")
        return features
    if x.dtype != np.uint8:
        raise DataError(
            f"{what} holds images of shape {x.shape} as {x.dtype}; images must be uint8 0..255 "
            "(for 0..1 floats save (x * 255).round().astype('uint8'))."
        )
    if x.ndim == 3:
        return x[..., None]
    if x.shape[3] not in (1, 3):
        raise DataError(
            f"{what} has shape {x.shape}; images are N×H×W×C with C 1 or 3, channels last "
            "(for N×C×H×W save x.transpose(0, 2, 3, 1))."
        )
    return x if isinstance(x, np.memmap) and x.flags.c_contiguous else np.ascontiguousarray(x)


def _labels(
    path: Path, key: str, y: np.ndarray, classes: np.ndarray | None, n: int, x_key: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    if y.ndim != 1:
        raise DataError(f"{path}: {key!r} has shape {y.shape}; labels are one value per sample (save y.ravel()).")
    if len(y) != n:
        raise DataError(f"{path}: {x_key!r} has {n} samples but {key!r} has {len(y)} labels; they must match.")
    names = _class_names(path, classes) if classes is not None else None
    if y.dtype.kind in "US":
        labels = y.astype(str)
        names = names or tuple(sorted(set(labels.tolist())))
        unknown = sorted(set(labels.tolist()) - set(names))
        if unknown:
            raise DataError(f"{path}: {key!r} has labels {unknown} missing from 'classes' {list(names)}.")
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[v] for v in labels.tolist()], dtype=np.int64), names
    if y.dtype.kind not in "iu":
        raise DataError(
            f"{path}: {key!r} holds {y.dtype}; labels must be integers 0..K-1 or strings "
            "(for whole-number floats save y.astype(int))."
        )
    if y.min() < 0:
        raise DataError(f"{path}: {key!r} has label {int(y.min())}; integer labels must be 0..K-1.")
    top = int(y.max())
    if names is not None and top >= len(names):
        raise DataError(
            f"{path}: {key!r} has label {top} but 'classes' names {len(names)} classes (labels 0..{len(names) - 1})."
        )
    return y.astype(np.int64), names or tuple(str(i) for i in range(top + 1))


def _class_names(path: Path, classes: np.ndarray) -> tuple[str, ...]:
    if classes.ndim != 1 or classes.dtype.kind not in "US" or len(classes) == 0:
        raise DataError(
            f"{path}: 'classes' has shape {classes.shape} and dtype {classes.dtype}; expected a 1-D array "
            "of class names (strings)."
        )
    names = tuple(classes.astype(str).tolist())
    if len(set(names)) != len(names):
        raise DataError(f"{path}: 'classes' names a class twice ({list(names)}); names must be unique.")
    return names
