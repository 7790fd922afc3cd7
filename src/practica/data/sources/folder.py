"""The ``folder`` source: ``path/<class>/<image>``, decoded once, then read from the cache.

Memory-mapped (``dataset.memmap``), the images are decoded in parallel a chunk of files at a time
and written straight into the cache entry's ``x.npy``, never all in memory (``decode_folder_into``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from practica.data.records import Dataset, Skipped
from practica.data.sources.decode import (
    DECODE_VERSION,
    IMAGE_SUFFIXES,
    Decoded,
    Size,
    decode_chunk,
    decode_many,
    decode_or_reason,
    imap_chunks,
)
from practica.data.storage import cache, mapped
from practica.data.storage.cache import FileStat
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


def load_folder(
    root: Path, image_size: Size | None, channels: int | None, memmap: mapped.Setting | None = False
) -> Dataset:
    """Decode every image under ``root`` (or read them from the cache when nothing changed);
    ``memmap`` (True, or "auto" for a set too big for memory) maps them from the cache instead."""
    listing = scan(root)
    key = cache.cache_key(f"folder-decode{DECODE_VERSION}", root, listing.files, image_size, channels)
    if memmap == "auto":
        memmap = mapped.want_memmap("auto", _decoded_bytes(root, listing, image_size, channels, key))
    if memmap:
        return cache.cached(
            key,
            lambda: decode_folder(root, listing, image_size, channels),
            mmap=True,
            build_into=lambda path: decode_folder_into(root, listing, image_size, channels, path),
        )
    return cache.cached(key, lambda: decode_folder(root, listing, image_size, channels))


def _decoded_bytes(root: Path, listing: Listing, image_size: Size | None, channels: int | None, key: str) -> int:
    """The size of the decoded set: the cache entry's, else the first decodable image's times the files."""
    shape = cache.entry_shape(key)
    if shape is not None:
        return int(np.prod(shape, dtype=np.int64))
    for rel, _, _ in listing.files[:20]:
        img = decode_or_reason(os.path.join(root, rel), image_size, channels)
        if isinstance(img, np.ndarray):
            c = channels or (1 if img.ndim == 2 else 3)
            return len(listing.files) * img.shape[0] * img.shape[1] * c
    return 0  # nothing decodes: the in-memory path reports it


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
    skipped = tuple(Skipped(paths[i], d) for i, d in enumerate(decoded) if isinstance(d, str))
    _check_every_class_decoded(root, listing, decoded, good)
    images = [d for d in decoded if isinstance(d, np.ndarray)]  # decoded[i] for i in good
    x = stack_images(images, [paths[i] for i in good], channels)
    y = np.array(listing.labels, dtype=np.int64)[good]
    return Dataset(
        name=root.name, x=x, y=y, classes=listing.classes, sources=tuple(paths[i] for i in good), skipped=skipped
    )


def decode_folder_into(
    root: Path, listing: Listing, image_size: Size | None, channels: int | None, path: Path
) -> Dataset:
    """``decode_folder``, the images written into a memory-mapped ``.npy`` file at ``path`` as each
    chunk of files is decoded (in a process pool for many): the same samples, order and errors,
    never the whole set in memory."""
    paths = [os.path.join(root, rel) for rel, _, _ in listing.files]
    out: _ImageFile | None = None
    good: list[int] = []
    reasons: dict[int, str] = {}
    for start, decoded in imap_chunks(functools.partial(decode_chunk, image_size=image_size, channels=channels), paths):
        for i, d in enumerate(decoded, start):
            if isinstance(d, str):
                reasons[i] = d
                continue
            if out is None:
                out = _ImageFile(path, len(paths), d, paths[i], channels)
            out.append(d, paths[i])
            good.append(i)
        if out is not None:
            mapped.release(out.x)  # written pages flushed, and out of this process's resident memory
        os.utime(path.parent)  # a live temporary entry: see cache._remove_stale_tmp
    _check_every_class_decoded(root, listing, reasons, good)
    assert out is not None  # every class has a decoded image
    x = out.finish()
    y = np.array(listing.labels, dtype=np.int64)[good]
    return Dataset(
        name=root.name,
        x=x,
        y=y,
        classes=listing.classes,
        sources=tuple(paths[i] for i in good),
        skipped=tuple(Skipped(paths[i], r) for i, r in sorted(reasons.items())),
    )


class _ImageFile:
    """Decoded images (as ``prepare_image`` gives them) appended to a memory-mapped uint8 N×H×W×C
    ``.npy`` file of room for ``capacity``; C as ``stack_images`` chooses it: ``channels``, else 1
    while every image so far is gray, 3 (the gray ones broadcast) from the first colour image."""

    def __init__(self, path: Path, capacity: int, first: np.ndarray, first_name: str, channels: int | None):
        self.path, self.capacity = path, capacity
        self.first, self.first_name = first, first_name
        self.channels = channels or (1 if first.ndim == 2 else 3)
        self.x = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.uint8, shape=(capacity, *first.shape[:2], self.channels)
        )
        self.n = 0

    def append(self, image: np.ndarray, name: str) -> None:
        if image.shape[:2] != self.first.shape[:2]:
            _check_one_size([self.first, image], [self.first_name, name])
        if image.ndim == 3 and self.channels == 1:
            self._widen()
        self.x[self.n] = image[..., None] if image.ndim == 2 else image
        self.n += 1

    def _widen(self) -> None:
        """From one channel to three: the images so far copied into a new file, gray broadcast to RGB."""
        wide_path = self.path.with_name(self.path.name + ".rgb")
        wide = np.lib.format.open_memmap(wide_path, mode="w+", dtype=np.uint8, shape=(*self.x.shape[:3], 3))
        step = mapped.chunk_rows(wide)
        for start in range(0, self.n, step):
            wide[start : min(start + step, self.n)] = self.x[start : min(start + step, self.n)]
        self.x.flush()
        self.x = wide
        os.replace(wide_path, self.path)
        self.channels = 3

    def finish(self) -> np.memmap:
        """The file cut to the images written, flushed and opened read-only."""
        self.x.flush()
        del self.x
        if self.n < self.capacity:
            mapped.shrink_npy(self.path, self.n)
        return np.load(self.path, mmap_mode="r")


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


def _check_every_class_decoded(
    root: Path, listing: Listing, decoded: list[Decoded] | dict[int, str], good: list[int]
) -> None:
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
