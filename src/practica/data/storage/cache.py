"""On-disk cache of decoded data sets (folders, pixel CSVs, JSON records), so a second run reads
arrays instead of decoding or parsing.

An entry is a folder ``<key>/`` holding ``x.npy`` (for texts ``x.jsonl``: one JSON string per line,
since strings of many lengths are no fixed-width array), ``y.npy`` and ``meta.json``, written
into a temporary folder and renamed into place: a killed process leaves no entry, or a
whole one. Reading checks shapes and checksums, so a damaged entry is rebuilt, not trusted.

With ``mmap=True`` an entry's samples are memory-mapped rather than read (``mapped.py``), and a
loader that can (``build_into``: the image folder) decodes straight into the entry's ``x.npy``
a chunk at a time, never holding the whole set; either way the entry is the same, so a set
decoded in memory is mapped from the cache later, and the other way round.
"""

from __future__ import annotations

import contextlib
import gc
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
from typing import Any, TypeVar

import numpy as np
import platformdirs

from practica.data.records import SKIPPED_LIST, Dataset
from practica.data.storage import mapped
from practica.errors import DataError
from practica.io import atomic_write, read_json, write_json
from practica.tasks import get_task

FORMAT_VERSION = 1
_STALE_TMP_S = 3600  # a temporary folder this old belongs to a killed process

log = logging.getLogger(__name__)
T = TypeVar("T")

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


def cached(
    key: str,
    build: Callable[[], Dataset],
    *,
    mmap: bool = False,
    build_into: Callable[[Path], Dataset] | None = None,
) -> Dataset:
    """The entry under ``key`` if it is whole, else ``build()`` stored under ``key``.

    ``mmap``: the samples come memory-mapped from the entry; ``build_into(path)`` (when given)
    then writes them straight to ``path`` (the entry's future ``x.npy``) and returns the set.
    """
    root = cache_dir()
    entry = root / key
    if entry.exists():
        data = _read(entry, key, mmap)
        if data is not None:
            return data
        log.warning("cache entry %s is damaged or incomplete; decoding again", entry)
    if mmap and build_into is not None:
        return _store_into(root, key, build_into)
    with _paused_gc():
        data = build()
    try:
        _store(root, key, data)
    except OSError as err:
        log.warning("could not write the data cache in %s (%s); the next run decodes again", root, err)
        return data
    if mmap:
        return _read(entry, key, mmap=True) or data
    return data


@contextlib.contextmanager
def _paused_gc():
    """Parsers make millions of small objects (a 60,000-row CSV of 785 columns: 47 million field
    strings), none in a cycle; the cyclic collector would walk them again and again as they pile
    up, half the parse time. Paused while a set is built, collected once after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def derived_key(code: Sequence[str], params: Any, datasets: Sequence[Dataset | None]) -> str:
    """The key of a result computed from data sets (cleaning decisions, hygiene checks): the source
    of the modules that compute it (so a changed algorithm never reads a stale entry), its
    parameters, and each set's samples, targets, classes, sources and skipped entries."""
    h = hashlib.sha256()
    for module in code:
        h.update(Path(module).read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for ds in datasets:
        if ds is None:
            continue
        h.update(json.dumps([ds.x.shape, str(ds.x.dtype), list(ds.classes), list(ds.sources),
                             [str(s) for s in ds.skipped]]).encode())
        mapped.update_hash(h, ds.x)
        h.update(np.ascontiguousarray(ds.y, dtype=get_task(ds.task).target_dtype).data)
    return h.hexdigest()


def cached_result(kind: str, key: str, compute: Callable[[], T], to_json: Callable[[T], Any],
                  from_json: Callable[[Any], T]) -> T:
    """``compute()``'s result stored as JSON under ``<cache>/<kind>/<key>.json``: read back when the
    entry is whole and its key matches, else computed and stored (a cache that cannot be written
    only costs the next run the computation again)."""
    path = cache_dir() / kind / f"{key}.json"
    try:
        entry = read_json(path)
        if entry.get("key") == key:
            return from_json(entry["value"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = compute()
    try:
        write_json(path, {"key": key, "value": to_json(result)})
    except OSError as err:
        log.warning("could not write the %s cache in %s (%s); the next run computes it again", kind, path.parent, err)
    return result


def entry_shape(key: str) -> tuple[int, ...] | None:
    """The samples' shape in the entry under ``key`` (from its meta.json), or None without one."""
    try:
        meta = read_json(cache_dir() / key / "meta.json")
        return tuple(meta["x_shape"]) if meta.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read(entry: Path, key: str, mmap: bool = False) -> Dataset | None:
    try:
        meta = read_json(entry / "meta.json")
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            return None
        texts = meta.get("x_kind") == "text"
        x = _read_texts(entry / "x.jsonl") if texts else \
            np.load(entry / "x.npy", allow_pickle=False, mmap_mode="r" if mmap else None)
        y = np.load(entry / "y.npy", allow_pickle=False)
        whole = (
            x.dtype in ((object,) if texts else (np.uint8, np.float32))  # images, a feature table, or texts
            and list(x.shape) == meta["x_shape"]
            and y.dtype == (np.float32 if meta.get("task") == "regression" else np.int64)
            and y.shape == (len(x),)
            and len(meta["sources"]) == len(x)
            and (_crc32(x) if texts else mapped.crc32(x) if mmap else zlib.crc32(x)) == meta["x_crc32"]
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
            skipped=SKIPPED_LIST.validate_python(meta["skipped"]),
            task=meta.get("task", "classification"),
            feature_names=tuple(meta.get("feature_names", ())),
            table=_table(meta.get("table")),
            notes=tuple(meta.get("notes", ())),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _crc32(x: np.ndarray) -> int:
    """The CRC-32 of the samples' bytes; of texts, of their UTF-8 lines as ``x.jsonl`` holds them."""
    if x.dtype != object:
        return zlib.crc32(np.ascontiguousarray(x).data)
    value = 0
    for text in x:
        value = zlib.crc32((json.dumps(text, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass"), value)
    return value


def _write_texts(path: Path, x: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogatepass", newline="\n") as f:
        for text in x:
            f.write(json.dumps(text, ensure_ascii=False) + "\n")


def _read_texts(path: Path) -> np.ndarray:
    with open(path, encoding="utf-8", errors="surrogatepass", newline="\n") as f:
        texts = [json.loads(line) for line in f]
    if not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{path} holds something other than texts")
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out


def _table(d: dict | None):
    """A CSV table's column schema, from its meta.json form."""
    if d is None:
        return None
    from practica.data.sources.tabular import TABLE_SCHEMA

    return TABLE_SCHEMA.validate_python(d)


def _table_json(table: Any) -> Any:
    """A CSV table's column schema in its meta.json form."""
    from practica.data.sources.tabular import TABLE_SCHEMA

    return TABLE_SCHEMA.dump_python(table, mode="json")


def _store(root: Path, key: str, data: Dataset) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=root))
    try:
        if data.x.dtype == object:
            atomic_write(tmp / "x.jsonl", lambda p: _write_texts(p, data.x))
        else:
            atomic_write(tmp / "x.npy", lambda p: _save_npy(p, data.x))
        _commit(root, key, tmp, data, _crc32(data.x))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _store_into(root: Path, key: str, build_into: Callable[[Path], Dataset]) -> Dataset:
    """``build_into`` writes the samples into the temporary entry's ``x.npy``; the entry is then
    completed and renamed into place as ``_store`` does, and read back memory-mapped."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(root)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=root))
    except OSError as err:
        raise _no_room(root, err) from None
    try:
        data = build_into(tmp / "x.npy")
        _commit(root, key, tmp, data, mapped.crc32(data.x))
        del data
    except OSError as err:
        raise _no_room(root, err) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stored = _read(root / key, key, mmap=True)
    if stored is None:
        raise DataError(f"the memory-mapped cache entry {root / key} could not be read back after writing it")
    return stored


def _commit(root: Path, key: str, tmp: Path, data: Dataset, x_crc32: int) -> None:
    """Write ``y.npy`` and ``meta.json`` beside ``tmp/x.npy`` and rename ``tmp`` into the entry."""
    atomic_write(tmp / "y.npy", lambda p: _save_npy(p, data.y))
    write_json(
        tmp / "meta.json",
        {
            "format": FORMAT_VERSION,
            "key": key,
            "name": data.name,
            "x_shape": list(data.x.shape),
            "x_crc32": x_crc32,
            "y_crc32": zlib.crc32(np.ascontiguousarray(data.y).data),
            "classes": list(data.classes),
            "sources": list(data.sources),
            "skipped": SKIPPED_LIST.dump_python(data.skipped, mode="json"),
            "task": data.task,
            "feature_names": list(data.feature_names),
            "table": None if data.table is None else _table_json(data.table),
            "x_kind": "text" if data.x.dtype == object else "array",
            "notes": list(data.notes),
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


def _no_room(root: Path, err: OSError) -> DataError:
    return DataError(
        f"could not write the memory-mapped data cache in {root} ({err}). A memory-mapped set is decoded onto "
        "disk there: free space, point PRACTICA_CACHE_DIR at a larger disk, or set dataset.memmap: false."
    )


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _remove_stale_tmp(root: Path) -> None:
    cutoff = time.time() - _STALE_TMP_S
    for tmp in root.glob(".tmp-*"):
        try:
            # a long decoding into a memory-mapped entry touches its folder after every chunk
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            continue
