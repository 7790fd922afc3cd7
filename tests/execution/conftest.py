"""The executor tests' local Ray instance (2 CPUs), started once for the session when a test asks for it, and
the executor kinds a test runs through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_instance(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'practica[ray]')")
    # The workers Ray starts import practica and the test's unit functions: the paths this session uses.
    here = Path(__file__).parent
    paths = [str(here.parents[1] / "src"), str(here.parent), str(here), os.environ.get("PYTHONPATH", "")]
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    mp.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway local instance
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning",
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield ray
    ray.shutdown()
    mp.undo()


@pytest.fixture(params=["processes", "ray"])
def kind(request):
    """The executor kind a test runs through, each in turn: worker processes, and Ray (its local instance
    started)."""
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    return request.param
