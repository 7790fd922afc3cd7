"""A bundle's manifest: the sha256 of every file, checked before anything in it is trusted."""

from __future__ import annotations

import hashlib
from pathlib import Path

from practica.errors import BundleError
from practica.io import read_json, write_json

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(root: Path) -> dict[str, str]:
    sums = {name: sha256_file(root / name) for name in _files(root)}
    write_json(root / MANIFEST, {"algorithm": "sha256", "files": sums})
    return sums


def verify_manifest(root: Path) -> dict[str, str]:
    """The manifest's sums, after checking that the files on disk are exactly those, unaltered."""
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} has no {MANIFEST}: it is not a practica bundle (make one with: practica export RUN_DIR)")
    try:
        sums = dict(read_json(path)["files"])
    except (ValueError, KeyError, TypeError) as err:
        raise BundleError(f"{path} is not a valid manifest ({err}); export the bundle again") from None
    present = set(_files(root))
    missing = sorted(set(sums) - present)
    extra = sorted(present - set(sums))
    changed = sorted(n for n in set(sums) & present if sha256_file(root / n) != sums[n])
    problems = []
    if changed:
        problems.append(f"changed since export: {', '.join(changed)}")
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if extra:
        problems.append(f"not part of the bundle: {', '.join(extra)}")
    if problems:
        raise BundleError(
            f"the bundle {root} was altered after export ({'; '.join(problems)}); refusing to load it. "
            "Export it again from its run directory (practica export RUN_DIR)."
        )
    return sums
