"""Run directories: ``runs/<suite>/<run-id>/``, found again for ``--resume``."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import yaml

from practica import __version__
from practica.config.schema import Suite
from practica.errors import RunError
from practica.io import read_json, write_json, write_text


def code_version() -> str:
    """Package version plus the git commit when running from a checkout (``0.1.0+g1a2b3c4-dirty``)."""
    root = Path(__file__).resolve().parents[3]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'-dirty' if dirty else ''}"


def resolved_yaml(suite: Suite) -> str:
    return yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False)


def new_run_dir(root: Path, suite: Suite) -> tuple[Path, str]:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id, n = stamp, 1
    while (root / suite.name / run_id).exists():
        n += 1
        run_id = f"{stamp}-{n}"
    run_dir = root / suite.name / run_id
    run_dir.mkdir(parents=True)
    write_text(run_dir / "suite.yaml", resolved_yaml(suite))
    return run_dir, run_id


def find_run_dir(root: Path, suite: Suite, run_id: str | None) -> tuple[Path, str]:
    """The run to resume: ``run_id`` if given, else the newest run of this suite."""
    base = root / suite.name
    if run_id is not None:
        run_dir = base / run_id
        if not (run_dir / "suite.yaml").is_file():
            raise RunError(f"no run '{run_id}' of suite '{suite.name}' under {base}; list them with: ls {base}")
    else:
        runs = sorted(p for p in base.glob("*") if (p / "suite.yaml").is_file()) if base.is_dir() else []
        if not runs:
            raise RunError(f"nothing to resume: no run of suite '{suite.name}' under {base}. Drop --resume to start one.")
        run_dir = runs[-1]
    saved = (run_dir / "suite.yaml").read_text(encoding="utf-8")
    if saved != resolved_yaml(suite):
        raise RunError(
            f"the suite changed since run {run_dir.name} began ({run_dir / 'suite.yaml'} holds the version it used); "
            "a resumed run must use the same suite. Restore it, or drop --resume to start a new run."
        )
    return run_dir, run_dir.name


def write_status(run_dir: Path, **fields: object) -> None:
    path = run_dir / "run.json"
    state = read_json(path) if path.exists() else {}
    state.update(fields)
    write_json(path, state)
