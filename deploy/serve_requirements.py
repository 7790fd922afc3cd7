"""Print the slim serving install's requirements, one a line: the ``serve`` extra of pyproject.toml.

pip cannot subtract base dependencies with an extra, so the serving image installs practica with
``--no-deps`` and then this list (``pip install -r``), read from pyproject.toml rather than kept twice::

    python deploy/serve_requirements.py > serve.txt && pip install -r serve.txt && pip install --no-deps .

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def serve_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["optional-dependencies"]["serve"])


if __name__ == "__main__":
    sys.stdout.write("".join(f"{line}\n" for line in serve_requirements()))
