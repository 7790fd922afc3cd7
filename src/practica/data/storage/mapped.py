"""Memory-mapped samples, for data sets bigger than memory (``dataset.memmap``).

A memory-mapped set lives in ``.npy`` files (uint8 N×H×W×C images, or float32 N×F features) opened
with ``mmap_mode="r"``: an ``np.memmap`` behaves as an ndarray, and only the rows read are brought
into memory, as reclaimable page cache rather than the process's own memory. Everything that
passes over a whole mapped set here goes a chunk of rows at a time (``CHUNK_BYTES``).

- ``want_memmap``: the ``auto | true | false`` decision. ``auto`` maps a set whose decoded samples
  would take more than ``MEMMAP_FRACTION`` of the memory available now (``MemAvailable`` of
  ``/proc/meminfo``, else ``os.sysconf``'s free pages): in memory the set is held more than once
  (the decoded set, its splits, the training tensor), so a quarter leaves room for the rest.
- ``take``: rows ``x[indices]`` copied chunk by chunk into a new mapped file: at a given ``path``
  (written as a temporary file, then renamed: a killed process leaves no half file there), or
  into a scratch file of the cache folder that is unlinked at once (the mapping keeps it alive
  until the array is freed; nothing is left on disk).
- ``release``: a mapped file's pages dropped from this process's resident memory
  (``madvise(MADV_DONTNEED)``): they stay in the page cache, so reading them again costs a page
  fault, not a disk read. Every pass over a mapped array releases it after each chunk, so the file
  pages counted in the process's resident size stay about a chunk's worth rather than growing to
  the set's size.
- ``RowReader``: rows read from the file with ``pread`` rather than through the mapping, where the
  array is a whole file that is still there: chunks in order (one read each: the disk's read-ahead
  works as for a plain file) and rows at random (training batches: a page fault maps a whole
  page-cache folio, up to megabytes on current kernels, so 256 random rows of 3 KB would map
  hundreds of megabytes; ``pread`` copies just the rows).
- ``is_mapped``, ``chunks``, ``crc32``, ``update_hash``, ``shrink_npy``: the helpers the loaders,
  the cache, the cleaning and the trainer share.
"""

from __future__ import annotations

import itertools
import mmap
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np

Setting = bool | Literal["auto"]

MEMMAP_FRACTION = 0.25  # auto maps a set whose samples would take more than this share of free memory
CHUNK_BYTES = 64 << 20  # rows are read and written about this many bytes at a time
SCRATCH_DIR = ".scratch"  # under the cache folder: unlinked files of subsets and converted sets


def available_memory() -> int | None:
    """Bytes of memory available to new allocations now, or None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def want_memmap(setting: Setting | None, nbytes: int) -> bool:
    """Whether ``nbytes`` of decoded samples go to a memory-mapped file under ``setting``."""
    if setting is None or setting is False:
        return False
    if setting is True:
        return True
    available = available_memory()
    return available is not None and nbytes > MEMMAP_FRACTION * available


def is_mapped(x: object) -> bool:
    """Whether ``x`` (an array, or a view of one) reads its data from a memory-mapped file."""
    seen = 0
    while x is not None and seen < 32:
        if isinstance(x, (np.memmap, mmap.mmap)):
            return True
        x = getattr(x, "base", None)
        seen += 1
    return False


def _mapping(x: object) -> tuple[mmap.mmap, str] | None:
    """The ``mmap`` under ``x`` (an ``np.memmap``, or a view of one) and its numpy mode."""
    seen = 0
    while x is not None and seen < 32:
        mm = getattr(x, "_mmap", None)
        if isinstance(x, np.memmap) and isinstance(mm, mmap.mmap):
            return mm, x.mode
        x = getattr(x, "base", None)
        seen += 1
    return None


def release(x: object) -> None:
    """Drop the pages of ``x``'s mapped file from this process's resident memory (nothing if ``x``
    is not mapped). The file's contents are untouched: a shared mapping (modes r, r+, w+; written
    pages flushed first) reads them back from the page cache or the disk on the next access."""
    found = _mapping(x)
    if found is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    mm, mode = found
    if mode not in ("r", "r+", "w+"):  # a private (copy-on-write) mapping would lose its changes
        return
    try:
        if mode != "r":
            mm.flush()
        mm.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # closed, or a system without it: the pages simply stay
        pass


class RowReader:
    """Rows of a memory-mapped ``.npy`` array read with ``os.preadv`` from its file, not through the
    mapping. ``open(x)`` gives None where ``x`` is not the whole array of a file that is still there
    (a scratch file is unlinked): read through the mapping then, and ``release`` it."""

    def __init__(self, fd: int, offset: int, row_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.fd, self.offset, self.row_shape, self.dtype = fd, offset, row_shape, dtype
        self.row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize

    @classmethod
    def open(cls, x: np.ndarray) -> RowReader | None:
        root = x
        while isinstance(base := getattr(root, "base", None), np.memmap):
            root = base
        filename = getattr(root, "filename", None)
        if (
            not isinstance(root, np.memmap) or not filename or not hasattr(os, "preadv")
            or not x.flags.c_contiguous or x.ctypes.data != root.ctypes.data
        ):
            return None
        try:
            fd = os.open(filename, os.O_RDONLY)
        except OSError:
            return None
        if os.fstat(fd).st_size < root.offset + x.nbytes:  # not the file that was mapped
            os.close(fd)
            return None
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead around random rows
        return cls(fd, root.offset, tuple(x.shape[1:]), x.dtype)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """``x[indices]``, in the given order (one read per row)."""
        out = np.empty((len(indices), *self.row_shape), dtype=self.dtype)
        flat = out.reshape(len(indices), -1).view(np.uint8)
        for k, i in enumerate(np.asarray(indices, dtype=np.int64).tolist()):
            self._fill(flat[k].data, i)
        return out

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """``x[start:stop]`` (one read)."""
        out = np.empty((max(0, stop - start), *self.row_shape), dtype=self.dtype)
        if len(out):
            self._fill(out.reshape(-1).view(np.uint8).data, start)
        return out

    def _fill(self, view: memoryview, row: int) -> None:
        at = self.offset + row * self.row_bytes
        done = 0
        while done < len(view):  # a read may return less than asked: go on where it stopped
            more = os.preadv(self.fd, [view[done:]], at + done)
            if more <= 0:
                raise OSError(f"{len(view)} bytes at byte {at} of a mapped file: the file ended")
            done += more

    def close(self) -> None:
        os.close(self.fd)


def chunk_rows(x: np.ndarray) -> int:
    """How many rows of ``x`` make about ``CHUNK_BYTES``."""
    row = int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize
    return max(1, CHUNK_BYTES // max(row, 1))


def chunks(x: np.ndarray, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, x[start:start + rows])`` over ``x``; each chunk an in-memory copy if ``x`` is mapped."""
    step = rows or chunk_rows(x)
    on_disk = is_mapped(x)
    reader = RowReader.open(x) if on_disk else None
    try:
        for start in range(0, len(x), step):
            if reader is not None:
                part = reader.read_range(start, min(start + step, len(x)))
            else:
                part = x[start : start + step]
                if on_disk:
                    part = np.array(part)
                    release(x)
            yield start, part
    finally:
        if reader is not None:
            reader.close()


def crc32(x: np.ndarray) -> int:
    """``zlib.crc32`` of ``x``'s bytes, read a chunk at a time (the same value as in one call)."""
    value = 0
    for _, part in chunks(x):
        value = zlib.crc32(np.ascontiguousarray(part).data, value)
    return value


def update_hash(h, x: np.ndarray) -> None:
    """``h.update(x's bytes)``, a chunk at a time for a mapped ``x`` (the same digest). Texts (an object
    array of ``str``) are hashed as their UTF-8 bytes, each after its length, so no two lists collide."""
    if x.dtype == object:
        for text in x:
            raw = str(text).encode("utf-8", "surrogatepass")
            h.update(len(raw).to_bytes(8, "little"))
            h.update(raw)
        return
    if not is_mapped(x):
        h.update(np.ascontiguousarray(x))
        return
    for _, part in chunks(x):
        h.update(np.ascontiguousarray(part))


def spans(indices: np.ndarray, step: int) -> Iterator[tuple[int, int]]:
    """``(a, b)`` ranges of ``indices`` to read a chunk at a time: at most ``step`` of them, and, when
    they are sorted, spanning at most ``step`` rows of the array they index (a chunk of sparse rows
    would otherwise touch pages all over a mapped file before it is released)."""
    n = len(indices)
    ordered = n < 2 or bool(np.all(indices[1:] >= indices[:-1]))
    a = 0
    while a < n:
        b = min(a + step, n)
        if ordered:
            b = max(a + 1, min(b, int(np.searchsorted(indices, indices[a] + step, side="left"))))
        yield a, b
        a = b


def gather(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``x[indices]`` in memory, read in increasing row order (disk locality), returned in the given order."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) < 2 or bool(np.all(indices[1:] >= indices[:-1])) or not is_mapped(x):
        return np.asarray(x[indices])  # fancy indexing copies
    order = np.argsort(indices, kind="stable")
    out = np.empty((len(indices), *x.shape[1:]), dtype=x.dtype)
    out[order] = x[indices[order]]
    return out


def take(x: np.ndarray, indices: np.ndarray, path: Path | None = None) -> np.memmap:
    """Rows ``x[indices]`` as a read-only memory-mapped array, copied a chunk at a time.

    With ``path``, the file there is reused when it holds an array of the right shape and type
    (a killed writer leaves only a temporary file, never a partial one there); otherwise a scratch
    file, unlinked at once. All the rows of a contiguous mapped ``x``, in order, are ``x`` itself.
    """
    indices = np.asarray(indices, dtype=np.int64)
    shape = (len(indices), *x.shape[1:])
    if path is not None:
        found = open_npy(path, shape, x.dtype)
        if found is not None:
            return found
    if (
        is_mapped(x) and isinstance(x, np.memmap) and x.flags.c_contiguous and len(indices) == len(x)
        and bool(np.array_equal(indices, np.arange(len(x))))
    ):
        return x
    step = chunk_rows(x)

    def rows() -> Iterator[np.ndarray]:
        reader = RowReader.open(x) if is_mapped(x) else None
        try:
            for a, b in spans(indices, step):
                part = indices[a:b]
                if reader is not None and bool(np.all(part[1:] >= part[:-1])):
                    yield reader.read_range(int(part[0]), int(part[-1]) + 1)[part - part[0]]  # the rows' span, once
                else:
                    yield gather(x, part)
                    release(x)
        finally:
            if reader is not None:
                reader.close()

    return write_npy(shape, x.dtype, rows(), path)


def transform(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.memmap:
    """``fn`` over ``x`` a chunk of rows at a time, into a scratch mapped array (``fn`` keeps the row count)."""
    parts = (fn(part) for _, part in chunks(x))
    first = next(parts)
    return write_npy((len(x), *first.shape[1:]), first.dtype, itertools.chain([first], parts))


def spill(x: np.ndarray) -> np.memmap:
    """An in-memory array copied into a scratch mapped array (the caller then drops the original)."""
    return take(x, np.arange(len(x)))


def write_npy(
    shape: tuple[int, ...], dtype: np.dtype, parts: Iterable[np.ndarray], path: Path | None = None
) -> np.memmap:
    """A new ``.npy`` file of ``shape`` and ``dtype``, its rows ``parts`` one after the other (written
    to the file as they come, not through a mapping), then opened read-only memory-mapped.

    With ``path``, written beside it under a temporary name and renamed into place; without, a
    scratch file under the cache folder, unlinked once mapped.
    """
    dtype = np.dtype(dtype)
    folder = path.parent if path is not None else _scratch_dir()
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-" if path is not None else "scratch-"
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".npy", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
            np.lib.format.write_array_header_1_0(f, header)
            rows = 0
            for part in parts:
                part = np.ascontiguousarray(part, dtype=dtype)
                if part.shape[1:] != tuple(shape[1:]):
                    raise ValueError(f"rows of shape {part.shape[1:]} written to an array of {shape}")
                f.write(part.data)
                rows += len(part)
            if rows != shape[0]:
                raise ValueError(f"{rows} rows written to an array of {shape[0]}")
            if path is not None:
                f.flush()
                os.fsync(f.fileno())  # whole on disk before it takes its name
        if path is None:
            mapped = np.load(tmp, mmap_mode="r")
            tmp.unlink()
            return mapped
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return np.load(path, mmap_mode="r")


def open_npy(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.memmap | None:
    """The mapped array at ``path`` if it is whole and of ``shape`` and ``dtype``, else None."""
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(x, np.memmap) or x.shape != tuple(shape) or x.dtype != dtype:
        return None
    if path.stat().st_size != x.offset + x.nbytes:  # a longer file is not one this module wrote
        return None
    return x


def shrink_npy(path: Path, n: int) -> None:
    """Keep the first ``n`` rows of the ``.npy`` array at ``path`` (its header rewritten, the file cut)."""
    with open(path, "r+b") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        header_len = f.tell()
        d = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": (n, *shape[1:])}
        import io

        buf = io.BytesIO()
        write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
        write(buf, d)
        if len(buf.getvalue()) == header_len:  # numpy pads headers so that the first axis can change in place
            f.seek(0)
            f.write(buf.getvalue())
            f.truncate(header_len + n * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
            return
    old = np.load(path, mmap_mode="r")
    fresh = path.with_name(path.name + ".shrunk")
    out = np.lib.format.open_memmap(fresh, mode="w+", dtype=old.dtype, shape=(n, *old.shape[1:]))
    step = chunk_rows(old)
    for start in range(0, n, step):
        out[start : start + step] = old[start : min(start + step, n)]
    out.flush()
    del out, old
    os.replace(fresh, path)


def _scratch_dir() -> Path:
    from practica.data.storage.cache import cache_dir

    return cache_dir() / SCRATCH_DIR
