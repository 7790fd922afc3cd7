"""The code version a run, a bundle and ``practica version`` record: stdlib only, so asking for it
loads no training stack (``practica version`` runs in the slim serving install, which has no torch)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from practica import __version__


def code_version() -> str:
    """Package version plus the git commit when running from a checkout (``0.1.0+g1a2b3c4-dirty``)."""
    package = Path(__file__).resolve().parent
    root = package.parents[1]
    if package != root / "src" / "practica":  # installed (site-packages): a git repo around it is not ours
        return __version__
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'-dirty' if dirty else ''}"
