"""Decode image files with PIL: one file, or many in a process pool.

A file that cannot be decoded yields the reason instead of an array, so one bad file
in fifty thousand is reported, never a crash.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# 16-bit grayscale (a 16-bit PNG opens as "I;16"): Pillow's convert("L") clips it at 255 instead of
# scaling it, so these are scaled to 8 bits by hand (``_gray16_to_l``).
GRAY16_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
# Part of the decoded-data cache keys (``folder.load_folder``): bumped whenever the same file would
# decode to different values, so no cache entry from an older decoding is read again.
# 2: 16-bit grayscale scaled to 8 bits (it was clipped at 255).
DECODE_VERSION = 2

# Below this many files a pool costs more to start than it saves.
PARALLEL_MIN_FILES = 2000
CHUNK_SIZE = 1000
# fork where there is one: as fast as spawn or forkserver on CIFAR-10, and the workers need neither
# to import practica again nor an `if __name__ == "__main__"` guard in the caller's script.
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"

Size = tuple[int, int]  # (height, width)
T = TypeVar("T")
R = TypeVar("R")
Decoded = np.ndarray | str  # H×W (grayscale) or H×W×3 uint8, or why the file was skipped


def decode_file(path: str, image_size: Size | None, channels: int | None) -> np.ndarray:
    """One image as uint8: H×W if grayscale (or ``channels`` 1), else H×W×3."""
    with Image.open(path) as opened:
        return prepare_image(opened, image_size, channels)


def prepare_image(img: Image.Image, image_size: Size | None, channels: int | None) -> np.ndarray:
    """An opened image made upright, converted and resized: the one path from file to array,
    for training and for prediction alike."""
    img = ImageOps.exif_transpose(img)  # upright, as image viewers show it
    gray = img.mode in GRAY_MODES if channels is None else channels == 1  # channels None: keep gray images gray
    mode = "L" if gray else "RGB"
    if img.mode in GRAY16_MODES:
        img = _gray16_to_l(img)
    if img.mode != mode:
        img = img.convert(mode)
    if image_size is not None and img.size != (image_size[1], image_size[0]):
        # Pillow's bilinear filter widens with the scale factor, so downsizing is antialiased.
        img = img.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
    return np.asarray(img)


def _gray16_to_l(img: Image.Image) -> Image.Image:
    """16-bit grayscale → 8-bit "L", 0–65535 mapped linearly onto 0–255, rounded (65535 / 257 = 255)."""
    wide = np.asarray(img, dtype=np.uint32)  # whatever the byte order, as numbers
    return Image.fromarray(((wide + 128) // 257).astype(np.uint8), mode="L")


def decode_or_reason(path: str, image_size: Size | None, channels: int | None) -> Decoded:
    # Any exception: PIL's decoders raise many kinds (OSError, SyntaxError, struct.error...)
    # on damaged files, and a damaged file must be skipped, not end the run.
    try:
        return decode_file(path, image_size, channels)
    except Exception as err:  # noqa: BLE001
        return _reason(path, err)


def decode_chunk(paths: list[str], image_size: Size | None, channels: int | None) -> list[Decoded]:
    return [decode_or_reason(p, image_size, channels) for p in paths]


def decode_many(paths: list[str], image_size: Size | None, channels: int | None) -> list[Decoded]:
    """Decode in order; in a process pool over chunks of files when there are many."""
    return map_chunks(partial(decode_chunk, image_size=image_size, channels=channels), paths)


def map_chunks(work: Callable[[list[T]], list[R]], items: list[T]) -> list[R]:
    """``work`` over ``items`` in order: in this process for few items, else in a process pool over
    chunks of ``CHUNK_SIZE`` (``work`` must be picklable: a module-level function or a partial of one)."""
    workers = min(_cpu_count(), -(-len(items) // CHUNK_SIZE))
    if workers < 2 or len(items) < PARALLEL_MIN_FILES:
        return work(items)
    chunks = [items[i : i + CHUNK_SIZE] for i in range(0, len(items), CHUNK_SIZE)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(_START_METHOD)) as pool:
        return [item for chunk in pool.map(work, chunks) for item in chunk]


def imap_chunks(work: Callable[[list[T]], list[R]], items: list[T]) -> Iterator[tuple[int, list[R]]]:
    """``(start, work(items[start:start + CHUNK_SIZE]))`` in order, chunk by chunk, as ``map_chunks``
    computes them (a process pool for many items) but handed over as each is done, with a few chunks
    in flight at most: a caller that writes each chunk away never holds all the results."""
    starts = range(0, len(items), CHUNK_SIZE)
    workers = min(_cpu_count(), len(starts))
    if workers < 2 or len(items) < PARALLEL_MIN_FILES:
        for start in starts:
            yield start, work(items[start : start + CHUNK_SIZE])
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(_START_METHOD))
    try:
        todo = iter(starts)
        pending: deque[tuple[int, Future[list[R]]]] = deque()
        for start in todo:
            pending.append((start, pool.submit(work, items[start : start + CHUNK_SIZE])))
            if len(pending) >= 2 * workers:
                break
        while pending:
            start, future = pending.popleft()
            result = future.result()
            following = next(todo, None)
            if following is not None:
                pending.append((following, pool.submit(work, items[following : following + CHUNK_SIZE])))
            yield start, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _reason(path: str, err: Exception) -> str:
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
    except OSError:
        pass
    if isinstance(err, UnidentifiedImageError):
        return "not an image PIL can read (another format, or a damaged header)"
    return f"{type(err).__name__}: {err}"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

