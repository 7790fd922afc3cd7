"""A bundle's manifest: the sha256 of every file, checked before anything in it is trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from practica.errors import BundleError
from practica.io import sha256_file, write_json

MANIFEST = "manifest.json"


class Manifest(BaseModel):
    """``manifest.json``: every file of the bundle (its path inside it, ``/``-separated) and its sha256."""

    model_config = ConfigDict(frozen=True)

    algorithm: Literal["sha256"] = "sha256"
    files: dict[str, str]


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(root: Path) -> dict[str, str]:
    manifest = Manifest(files={name: sha256_file(root / name) for name in _files(root)})
    write_json(root / MANIFEST, manifest.model_dump())
    return manifest.files


def verify_manifest(root: Path) -> dict[str, str]:
    """The manifest's sums, after checking that the files on disk are exactly those, unaltered."""
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} has no {MANIFEST}: it is not a practica bundle "
                          "(make one with: practica export RUN_DIR)")
    try:
        sums = Manifest.model_validate_json(path.read_bytes()).files
    except ValueError as err:
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
