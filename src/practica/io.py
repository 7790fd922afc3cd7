"""Atomic file writes: a run killed at any moment leaves the old file or the new one, never half.

Files a resumed run trusts (weights, checkpoints, result records) also get a sha256 beside them,
``NAME.sha256`` in ``sha256sum`` format, so bytes altered on disk are caught before they are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` (its return value is ignored) then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda p: p.write_bytes(data))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


CHECKSUM_SUFFIX = ".sha256"


def checksum_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + CHECKSUM_SUFFIX)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksum(path: Path) -> None:
    """Record ``path``'s sha256 in ``path.sha256`` (``sha256sum -c`` reads it); call it after every write."""
    write_text(checksum_path(path), f"{sha256_file(path)}  {Path(path).name}\n")


def checksum_problem(path: Path) -> str | None:
    """Why ``path`` cannot be trusted (missing, no recorded sha256, or bytes that differ from it); None when
    it matches the sha256 recorded beside it."""
    path, record = Path(path), checksum_path(path)
    if not path.is_file():
        return f"{path} is missing"
    if not record.is_file():
        return f"{path} has no recorded sha256 ({record.name} is missing)"
    recorded = record.read_text(encoding="utf-8").split(" ", 1)[0].strip()
    actual = sha256_file(path)
    if actual != recorded:
        return (f"{path} does not match its recorded sha256 ({recorded[:12]}… recorded, {actual[:12]}… now): "
                "it was altered or damaged")
    return None


def remove_with_checksum(path: Path) -> None:
    Path(path).unlink(missing_ok=True)
    checksum_path(path).unlink(missing_ok=True)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
