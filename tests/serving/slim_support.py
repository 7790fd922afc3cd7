"""The slim serving install, imitated in the full one: every module its requirements would not install is refused.

The ``serve`` extra of pyproject.toml lists what serving needs. Its closure (with each package's own
requirements) is what ``pip install --no-deps . && pip install -r <serve extra>`` installs; any other
installed distribution (torch, scikit-learn, matplotlib, scipy, pytest, ...) is made unimportable in a child
process by a ``sitecustomize`` that puts a refusing finder first on ``sys.meta_path``. The child (and
any worker process it spawns, as the environment carries the finder) records what it tried to import.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import practica

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SRC = Path(practica.__file__).resolve().parents[1]  # the practica under test, not another checkout's

ENV_BLOCKED = "PRACTICA_TEST_BLOCKED_MODULES"
ENV_ATTEMPTS = "PRACTICA_TEST_BLOCKED_ATTEMPTS"

SITECUSTOMIZE = f'''
import importlib.abc, json, os, sys

_BLOCKED = frozenset(json.loads(os.environ["{ENV_BLOCKED}"]))
_ATTEMPTS = os.environ["{ENV_ATTEMPTS}"]


class _NotInTheSlimInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in _BLOCKED:
            return None
        with open(_ATTEMPTS, "a") as f:
            f.write(top + "\\n")
        raise ModuleNotFoundError(f"No module named {{name!r}} (not in the slim serving install)", name=name)


sys.meta_path.insert(0, _NotInTheSlimInstall())
'''


def pyproject() -> dict:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)["project"]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_closure(requirements: list[str]) -> set[str]:
    """The distributions (canonical names) these requirements pull in, as installed here."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here, so nothing to refuse either
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(sub)
    return {key.partition("[")[0] for key in seen}


def top_level_modules(dists: set[str]) -> set[str]:
    """The importable top-level names that only these distributions provide."""
    owners = metadata.packages_distributions()
    return {module for module, names in owners.items() if {canonical(n) for n in names} <= dists}


@cache
def refused_modules() -> frozenset[str]:
    """Every installed top-level module that the slim install would not have."""
    kept = installed_closure(pyproject()["optional-dependencies"]["serve"]) | {"practica"}
    every = {canonical(d.metadata["Name"]) for d in metadata.distributions()}
    return frozenset(top_level_modules(every - kept))


@cache
def training_modules() -> frozenset[str]:
    """The top-level modules of practica's base dependencies that serving must not import."""
    project = pyproject()
    serving = installed_closure(project["optional-dependencies"]["serve"])
    training = installed_closure(project["dependencies"]) - serving
    return frozenset(top_level_modules(training))


def slim_env(folder: Path) -> dict[str, str]:
    """An environment whose Python processes cannot import what the slim install lacks."""
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    attempts = folder / "attempts.txt"
    attempts.touch()
    path = os.pathsep.join([str(folder), str(SRC), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, ENV_BLOCKED: json.dumps(sorted(refused_modules())),
            ENV_ATTEMPTS: str(attempts)}


def attempted(env: dict[str, str]) -> set[str]:
    return set(Path(env[ENV_ATTEMPTS]).read_text().split())
