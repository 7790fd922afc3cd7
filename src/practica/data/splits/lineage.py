"""The lineage manifest (``lineage.json``): exactly which bytes a model was made from, and where
every sample went.

Written into the run directory (``data/lineage.json``) and into the model bundle. It holds:

- ``inputs``: every input file (or archive) with its sha256 — for a folder, each file under it
  (hidden ones excepted) by its path relative to the folder, and a ``sha256`` of the folder
  itself: the sha256 of its ``sha256sum``-style listing (``"<sha256>  <path>\\n"``, sorted);
- ``samples``: per data set (``data``, and ``test`` for a fixed test set), its samples by source
  name (relative to ``root`` where they lie under it) in ``train`` / ``val`` / ``test`` /
  ``dropped`` (by the cleaning policy), and how many were ``unused`` (``dataset.max_samples``):
  one list per split keeps 60,000 names to about a megabyte;
- ``cleaning``: the policy and every decision (skip, drop, keep) with its samples and reason;
- the split ``seed``, the data ``fingerprint`` and the ``code_version``.

Hashing a folder of 60,000 images reads every byte once, in parallel threads (hashlib releases
the GIL), and the result is cached under the decoded-data cache's folder, keyed as its entries
are (every path, size and mtime): a second run only lists the folder.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from practica.config.schema import (
    BUILTIN_SOURCES,
    KNOWN_SOURCES,
    DatasetSpec,
    SourceSpec,
)
from practica.data.records import Dataset, Splits
from practica.data.storage import cache
from practica.io import read_json, write_json

LINEAGE_FILE = "lineage.json"
FORMAT = "practica-lineage"
VERSION = 1
_HASH_DIR = "sha256"  # under the cache folder

# The files scikit-learn reads its bundled sets from (sklearn/datasets/data/).
_BUILTIN_FILES = {"digits": "digits.csv.gz", "iris": "iris.csv", "wine": "wine_data.csv",
                  "breast_cancer": "breast_cancer.csv"}

log = logging.getLogger(__name__)


def build_lineage(spec: DatasetSpec, splits: Splits, code_version: str, run_id: str | None = None) -> dict[str, Any]:
    """The lineage record of ``splits``, made from ``spec`` (its data, and its fixed test set)."""
    from practica.data import official_test

    test_spec = spec.test or official_test(spec)
    inputs = [input_record(spec, "data")]
    if test_spec is not None:
        inputs.append(input_record(test_spec, "test"))
    roots = {i["role"]: i.get("path") if i.get("kind") == "folder" else None for i in inputs}
    dropped = sorted({i for d in splits.decisions if d.action == "drop" and d.set == "data" for i in d.indices})
    data_samples: dict[str, Any] = {"root": roots["data"]}
    parts = ("train", "val") if splits.test_is_fixed else ("train", "val", "test")
    for part in parts:
        data_samples[part] = _names(getattr(splits, part), splits.indices[part], roots["data"])
    data_samples["dropped"] = _relative(
        [n for d in splits.decisions if d.action == "drop" and d.set == "data" for n in d.samples], roots["data"])
    data_samples["unused"] = _unused(splits, len(dropped))
    samples = {"data": data_samples}
    if splits.test_is_fixed:
        samples["test"] = {"root": roots.get("test"),
                           "test": _names(splits.test, splits.indices["test"], roots.get("test"))}
    return {
        "format": FORMAT,
        "version": VERSION,
        "fingerprint": splits.fingerprint,
        "seed": splits.seed,
        "code_version": code_version,
        **({"run_id": run_id} if run_id else {}),
        "dataset": spec.model_dump(mode="json"),
        "inputs": inputs,
        "counts": {part: len(getattr(splits, part)) for part in ("train", "val", "test")} | {"dropped": len(dropped)},
        "samples": samples,
        "cleaning": {
            "policy": spec.clean.model_dump(mode="json"),
            "decisions": [d.to_dict() for d in splits.decisions],
        },
        "notes": list(splits.notes),
    }


# ------------------------------------------------------------------------ inputs


def input_record(spec: SourceSpec, role: str) -> dict[str, Any]:
    """One input: its files (or archive) with their sha256, or, for a set downloaded into the cache,
    the downloaded files found there."""
    base = {"role": role, "source": spec.source, "part": spec.part}
    if spec.path is not None:
        path = Path(spec.path)
        if path.is_dir():
            files = folder_hashes(path)
            return {**base, "kind": "folder", "path": str(path), "sha256": listing_digest(files),
                    "count": len(files), "files": files}
        if path.is_file():
            return {**base, "kind": "file", "path": str(path), "sha256": file_hashes_cached(path),
                    "bytes": path.stat().st_size}
        return {**base, "kind": "missing", "path": str(path)}
    if spec.source in BUILTIN_SOURCES and spec.source in _BUILTIN_FILES:
        ref = importlib.resources.files("sklearn.datasets") / "data" / _BUILTIN_FILES[spec.source]
        path = Path(str(ref))
        if path.is_file():
            return {**base, "kind": "file", "path": str(path), "sha256": file_hashes_cached(path),
                    "bytes": path.stat().st_size, "note": "scikit-learn's bundled copy"}
    if spec.source in KNOWN_SOURCES:
        found = _downloaded(spec.source)
        if found:
            return {**base, "kind": "files", "files": found,
                    "sha256": listing_digest({n: f["sha256"] for n, f in found.items()}),
                    "note": "downloaded into the data cache"}
    return {**base, "kind": "unknown", "note": "no file to hash; the data fingerprint identifies the samples"}


def _downloaded(source: str) -> dict[str, dict[str, Any]]:
    try:
        from practica.data.sources.download import downloads_dir
        from practica.data.sources.known import CHECKSUMS
    except ImportError:  # pragma: no cover - the well-known sets' loader is optional here
        return {}
    out = {}
    for name in sorted(CHECKSUMS.get(source, {})):
        path = downloads_dir() / name
        if path.is_file():
            out[name] = {"path": str(path), "sha256": file_hashes_cached(path), "bytes": path.stat().st_size}
    return out


def listing_digest(files: dict[str, str]) -> str:
    """sha256 of a ``sha256sum``-style listing of ``files`` (path → sha256), sorted by path."""
    text = "".join(f"{sha}  {name}\n" for name, sha in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _walk(root: Path) -> list[cache.FileStat]:
    """Every visible regular file under ``root``: (posix path relative to it, size, mtime_ns)."""
    out: list[cache.FileStat] = []
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    stack.append((Path(e.path), f"{prefix}{e.name}/"))
                elif e.is_file():
                    st = e.stat()
                    out.append((prefix + e.name, st.st_size, st.st_mtime_ns))
    out.sort()
    return out


def folder_hashes(root: Path) -> dict[str, str]:
    """sha256 of every visible file under ``root`` (relative posix path → hex), cached: a folder
    whose files keep their paths, sizes and mtimes is not read again."""
    files = _walk(root)
    return _cached(cache.cache_key("sha256", root, files, None, None),
                   lambda: _hash_many(root, [name for name, _, _ in files]))


def file_hashes_cached(path: Path) -> str:
    st = path.stat()
    files = [(path.name, st.st_size, st.st_mtime_ns)]
    return _cached(cache.cache_key("sha256", path, files, None, None),
                   lambda: {path.name: sha256_file(path)})[path.name]


def _hash_many(root: Path, names: list[str]) -> dict[str, str]:
    workers = min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sums = list(pool.map(sha256_file, (os.path.join(root, n) for n in names)))
    return dict(zip(names, sums, strict=True))


def _cached(key: str, build) -> dict[str, str]:
    path = cache.cache_dir() / _HASH_DIR / f"{key}.json"
    try:
        entry = read_json(path)
        if entry.get("key") == key and isinstance(entry.get("files"), dict):
            return entry["files"]
    except (OSError, ValueError):
        pass
    files = build()
    try:
        write_json(path, {"key": key, "files": files})
    except OSError as err:
        log.warning("could not cache file hashes in %s (%s); the next run hashes again", path.parent, err)
    return files


# ----------------------------------------------------------------------- samples


def _names(part: Dataset, indices, root: str | None) -> list[str]:
    names = list(part.sources) if len(part.sources) == len(part) else [f"#{int(i)}" for i in indices]
    return _relative(names, root)


def _relative(names: list[str], root: str | None) -> list[str]:
    """Names under ``root`` relative to it (posix), so 60,000 paths do not repeat the folder."""
    if not root:
        return names
    prefix = root.rstrip("/\\") + os.sep
    return [n[len(prefix):].replace(os.sep, "/") if n.startswith(prefix) else n for n in names]


def _unused(splits: Splits, n_dropped: int) -> int:
    """Samples of the data in no split and not dropped: left out by ``dataset.max_samples``."""
    if splits.groups is None:  # made without the cleaning step: every sample is in a split
        return 0
    parts = ("train", "val") if splits.test_is_fixed else ("train", "val", "test")
    return len(splits.groups) - n_dropped - sum(len(splits.indices[p]) for p in parts)
