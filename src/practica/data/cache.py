"""On-disk cache of decoded data sets (folders, pixel CSVs, JSON records), so a second run reads
arrays instead of decoding or parsing.

An entry is a folder ``<key>/`` holding ``x.npy``, ``y.npy`` and ``meta.json``, written
into a temporary folder and renamed into place: a killed process leaves no entry, or a
whole one. Reading checks shapes and checksums, so a damaged entry is rebuilt, not trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import platformdirs

from practica.data.records import Dataset
from practica.io import atomic_write, read_json, write_json

FORMAT_VERSION = 1
_STALE_TMP_S = 3600  # a temporary folder this old belongs to a killed process

log = logging.getLogger(__name__)

FileStat = tuple[str, int, int]  # (path relative to the source, size, mtime_ns)


def cache_dir() -> Path:
    """``$PRACTICA_CACHE_DIR``, else the user's cache folder."""
    env = os.environ.get("PRACTICA_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("practica")) / "datasets"


def cache_key(
    kind: str, root: Path, files: Sequence[FileStat], image_size: tuple[int, int] | None, channels: int | None
) -> str:
    """Changes when any file is added, removed, resized or touched, or the decoding changes."""
    content = [FORMAT_VERSION, kind, str(Path(root).resolve()), sorted(files), image_size, channels]
    return hashlib.sha256(json.dumps(content, default=list).encode()).hexdigest()


def cached(key: str, build: Callable[[], Dataset]) -> Dataset:
    """The entry under ``key`` if it is whole, else ``build()`` stored under ``key``."""
    root = cache_dir()
    entry = root / key
    if entry.exists():
        data = _read(entry, key)
        if data is not None:
            return data
        log.warning("cache entry %s is damaged or incomplete; decoding again", entry)
    data = build()
    try:
        _store(root, key, data)
    except OSError as err:
        log.warning("could not write the data cache in %s (%s); the next run decodes again", root, err)
    return data


def _read(entry: Path, key: str) -> Dataset | None:
    try:
        meta = read_json(entry / "meta.json")
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            return None
        x = np.load(entry / "x.npy", allow_pickle=False)
        y = np.load(entry / "y.npy", allow_pickle=False)
        whole = (
            x.dtype in (np.uint8, np.float32)  # images, or a feature table (JSON records)
            and list(x.shape) == meta["x_shape"]
            and y.dtype == np.int64
            and y.shape == (len(x),)
            and len(meta["sources"]) == len(x)
            and zlib.crc32(x) == meta["x_crc32"]
            and zlib.crc32(y) == meta["y_crc32"]
        )
        if not whole:
            return None
        return Dataset(
            name=meta["name"],
            x=x,
            y=y,
            classes=tuple(meta["classes"]),
            sources=tuple(meta["sources"]),
            skipped=tuple(meta["skipped"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store(root: Path, key: str, data: Dataset) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=root))
    try:
        atomic_write(tmp / "x.npy", lambda p: _save_npy(p, data.x))
        atomic_write(tmp / "y.npy", lambda p: _save_npy(p, data.y))
        write_json(
            tmp / "meta.json",
            {
                "format": FORMAT_VERSION,
                "key": key,
                "name": data.name,
                "x_shape": list(data.x.shape),
                "x_crc32": zlib.crc32(np.ascontiguousarray(data.x)),
                "y_crc32": zlib.crc32(np.ascontiguousarray(data.y)),
                "classes": list(data.classes),
                "sources": list(data.sources),
                "skipped": list(data.skipped),
            },
        )
        entry = root / key
        if entry.exists():  # damaged (a whole one would have been read): replace it
            shutil.rmtree(entry, ignore_errors=True)
        try:
            tmp.rename(entry)
        except OSError:
            if not entry.exists():
                raise
            # another process stored the same entry meanwhile; theirs serves as well as ours
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _remove_stale_tmp(root: Path) -> None:
    cutoff = time.time() - _STALE_TMP_S
    for tmp in root.glob(".tmp-*"):
        try:
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            continue
