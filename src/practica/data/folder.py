"""The ``folder`` source: ``path/<class>/<image>``, decoded once, then read from the cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from practica.data import cache
from practica.data.cache import FileStat
from practica.data.decode import IMAGE_SUFFIXES, Decoded, Size, decode_many
from practica.data.records import Dataset
from practica.errors import DataError

_SUFFIXES = ", ".join(sorted(IMAGE_SUFFIXES))
_SUFFIX_TUPLE = tuple(IMAGE_SUFFIXES)
_PART_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test"}


@dataclass(frozen=True)
class Listing:
    """What ``scan`` found: the classes, and for each image file its stat and its label."""

    classes: tuple[str, ...]
    files: list[FileStat]  # ("<class>/<name>", size, mtime_ns): plain tuples, fast for 50,000 files
    labels: list[int]


def load_folder(root: Path, image_size: Size | None, channels: int | None) -> Dataset:
    """Decode every image under ``root`` (or read them from the cache when nothing changed)."""
    listing = scan(root)
    key = cache.cache_key("folder", root, listing.files, image_size, channels)
    return cache.cached(key, lambda: decode_folder(root, listing, image_size, channels))


def scan(root: Path) -> Listing:
    """Class names (sorted sub-folder names) and their image files; hidden entries are ignored."""
    layout = f"one sub-folder per class holding its images: {root}/<class>/<image>.jpg"
    if not root.exists():
        raise DataError(
            f"data folder {root} does not exist. Expected {layout}. Check dataset.path "
            "(a relative path is read from the suite file's folder)."
        )
    if not root.is_dir():
        hint = " For a .npz file use source: npz." if root.suffix.lower() == ".npz" else ""
        raise DataError(f"data path {root} is a file, not a folder. A folder source needs {layout}.{hint}")
    entries = _visible(root)
    class_dirs = sorted((e for e in entries if e.is_dir()), key=_name)
    if not class_dirs:
        loose = sum(1 for e in entries if _is_image(e))
        found = f" (it holds {loose} image files directly; move them into class sub-folders)" if loose else ""
        raise DataError(f"data folder {root} has no class sub-folders{found}. Expected {layout}.")
    files: list[FileStat] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        inside = _visible(Path(class_dir.path))
        images = sorted((e for e in inside if _is_image(e)), key=_name)
        if not images:
            nested = " (images in nested folders are not read)" if any(e.is_dir() for e in inside) else ""
            raise DataError(
                f"class folder {class_dir.path} has no images ({_SUFFIXES}){nested}. Expected {layout}; "
                "add images to it or remove it."
            )
        prefix = class_dir.name + "/"
        for e in images:
            st = e.stat()
            files.append((prefix + e.name, st.st_size, st.st_mtime_ns))
        labels += [label] * len(images)
    return Listing(tuple(e.name for e in class_dirs), files, labels)


def decode_folder(root: Path, listing: Listing, image_size: Size | None, channels: int | None) -> Dataset:
    """Decode the listed files; undecodable ones go to ``skipped``. Images of one size, else DataError."""
    paths = [os.path.join(root, rel) for rel, _, _ in listing.files]
    decoded = decode_many(paths, image_size, channels)
    good = [i for i, d in enumerate(decoded) if isinstance(d, np.ndarray)]
    skipped = tuple(f"{paths[i]}: {d}" for i, d in enumerate(decoded) if isinstance(d, str))
    _check_every_class_decoded(root, listing, decoded, good)
    x = stack_images([decoded[i] for i in good], [paths[i] for i in good], channels)
    y = np.array(listing.labels, dtype=np.int64)[good]
    return Dataset(
        name=root.name, x=x, y=y, classes=listing.classes, sources=tuple(paths[i] for i in good), skipped=skipped
    )


def stack_images(arrays: list[np.ndarray], names: list[str], channels: int | None) -> np.ndarray:
    """Decoded images (H×W gray or H×W×3, as ``prepare_image`` gives them) as one uint8 N×H×W×C
    array: C is ``channels``, else 1 if every image is gray, else 3. One size, else a DataError
    naming two images (``names``) that differ."""
    _check_one_size(arrays, names)
    h, w = arrays[0].shape[:2]
    c = channels or (1 if all(a.ndim == 2 for a in arrays) else 3)
    x = np.empty((len(arrays), h, w, c), dtype=np.uint8)
    for i, a in enumerate(arrays):
        x[i] = a[..., None] if a.ndim == 2 else a  # a gray image broadcasts to RGB as L -> RGB does
    return x


def split_parts(root: Path) -> dict[str, Path] | None:
    """``{"train": root/train, "test": root/test}`` when ``root`` holds a train and a test folder
    (``train``/``training``, ``test``/``testing``, any case), each with class sub-folders; else None."""
    if not root.is_dir():
        return None
    parts: dict[str, Path] = {}
    for entry in sorted(_visible(root), key=_name):
        part = _PART_NAMES.get(entry.name.lower())
        if part and part not in parts and entry.is_dir() and any(e.is_dir() for e in _visible(Path(entry.path))):
            parts[part] = Path(entry.path)
    return parts if len(parts) == 2 else None


def part_root(root: Path, part: str) -> Path:
    """The folder of classes to read for ``part``: ``root/<part>`` in a train/test layout, else ``root``."""
    parts = split_parts(root)
    if parts is not None:
        return parts[part]
    if part == "test":
        raise DataError(
            f"part: test needs a folder holding train/ and test/, each with one sub-folder per class; {root} is "
            "not one. Point path at the test images' folder instead (and leave part out)."
        )
    return root


def _check_every_class_decoded(root: Path, listing: Listing, decoded: list[Decoded], good: list[int]) -> None:
    present = {listing.labels[i] for i in good}
    for label, name in enumerate(listing.classes):
        if label not in present:
            first = listing.labels.index(label)
            raise DataError(
                f"no image of class folder {root / name} could be decoded (e.g. {listing.files[first][0]}: "
                f"{decoded[first]}). Replace the damaged files, or remove the folder to drop the class."
            )


def _check_one_size(arrays: list[np.ndarray], paths: list[str]) -> None:
    first = arrays[0].shape[:2]
    other = next((i for i, a in enumerate(arrays) if a.shape[:2] != first), None)
    if other is not None:
        (h1, w1), (h2, w2) = first, arrays[other].shape[:2]
        raise DataError(
            f"images differ in size: {paths[0]} is {h1}×{w1} (height×width) but {paths[other]} is "
            f"{h2}×{w2}. Set dataset.image_size: [H, W] (e.g. [{h1}, {w1}]) to resize every image to one size."
        )


def _visible(folder: Path) -> list[os.DirEntry[str]]:
    """Entries not starting with '.'; ``DirEntry`` answers is_dir/stat with fewer system calls."""
    try:
        with os.scandir(folder) as it:
            return [e for e in it if not e.name.startswith(".")]
    except OSError as err:
        raise DataError(f"cannot list {folder}: {err.strerror}. Check that it exists and is readable.") from None


def _is_image(entry: os.DirEntry[str]) -> bool:
    return entry.name.lower().endswith(_SUFFIX_TUPLE) and entry.is_file()


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name
